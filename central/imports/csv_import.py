"""Appointments from CSV (UTF-8, comma-separated, one visit per row).

Header (this order is not required; these names are):

    registration_no,name,birth_date,phone_last4,card_uid,service_day,appointment_id,priority,step_free,steps

- registration_no, name, steps: required. steps: room ids in order, separated by `;`
  (e.g. `lab-1;xray-1;im-1`).
- birth_date, service_day: YYYY-MM-DD (service_day defaults to the import day).
- phone_last4: 4 digits; card_uid: the card's hex UID (stored only as a keyed hash);
  appointment_id: the EMR's id (makes re-imports idempotent; derived from the row otherwise);
  priority: 0 (most urgent) .. 9, default 5; step_free: true/false/yes/no/1/0.

Several rows may name the same patient (one per visit); their patient fields must agree.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date
from typing import Any

from pydantic import ValidationError

from central.engine.loader import HospitalData, PatientIn, VisitIn
from central.imports import ImportFileError, ImportProblem, ParsedImport

COLUMNS = (
    "registration_no",
    "name",
    "birth_date",
    "phone_last4",
    "card_uid",
    "service_day",
    "appointment_id",
    "priority",
    "step_free",
    "steps",
)
REQUIRED = ("registration_no", "name", "steps")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}
# First characters that make a spreadsheet treat a cell as a formula (CSV injection).
_FORMULA = ("=", "+", "-", "@")

# Which CSV column a pydantic field error belongs to.
_FIELD_COLUMN = {
    "registration_no": "registration_no",
    "name": "name",
    "birth_date": "birth_date",
    "phone_last4": "phone_last4",
    "card_uids": "card_uid",
    "service_day": "service_day",
    "external_ref": "appointment_id",
    "priority": "priority",
    "step_free": "step_free",
    "steps": "steps",
}


def parse_csv(raw: bytes, *, default_day: date, source: str = "<csv>") -> ParsedImport:
    """Parse the whole file; raises ImportFileError listing every bad line and column."""
    problems: list[ImportProblem] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportFileError(
            source, [ImportProblem("file", f"not UTF-8 (byte {e.start})")]
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        if missing:
            problems.append(ImportProblem("line 1 (header)", f"missing column(s): {missing}"))
        if unknown:
            problems.append(
                ImportProblem("line 1 (header)", f"unknown column(s): {unknown}; known: {COLUMNS}")
            )
        raise ImportFileError(source, problems)
    reader.fieldnames = header
    patients: dict[str, tuple[int, PatientIn]] = {}
    visits: list[VisitIn] = []
    sources: list[str] = []
    seen: dict[str, tuple[int, str]] = {}  # appointment id / card UID -> (line, owner)
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a field beyond the csv module's size limit
            problems.append(ImportProblem(f"line {reader.line_num + 1}", str(e)))
            continue
        line = reader.line_num
        if None in row:
            problems.append(ImportProblem(f"line {line}", "more fields than header columns"))
            continue
        cells = {k: (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue
        if _hostile(cells, line, seen, problems):
            continue
        if _row(cells, line, default_day, patients, visits, problems):
            sources.append(f"line {line}, column steps")
    if not visits and not problems:
        problems.append(ImportProblem("file", "no rows"))
    if problems:
        raise ImportFileError(source, problems)
    data = HospitalData(patients=[p for _line, p in patients.values()], visits=visits)
    return ParsedImport(data=data, visit_sources=sources)


def _hostile(
    cells: dict[str, str],
    line: int,
    seen: dict[str, tuple[int, str]],
    problems: list[ImportProblem],
) -> bool:
    """Cells a spreadsheet would run as a formula, control characters, and an appointment id
    or card UID already used on another line: True (and problems) when the row has any."""
    before = len(problems)
    for column, value in cells.items():
        if value[:1] in _FORMULA:
            problems.append(
                ImportProblem(
                    f"line {line}, column {column}",
                    f"starts with {value[0]!r}: a spreadsheet formula, refused",
                )
            )
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            problems.append(ImportProblem(f"line {line}, column {column}", "control character"))
    reg = cells.get("registration_no", "")
    for column, key in (("appointment_id", "appt"), ("card_uid", "card")):
        value = cells.get(column, "").replace(":", "").upper()
        if not value:
            continue
        first = seen.setdefault(f"{key}:{value}", (line, reg))
        if first[0] != line and (key == "appt" or first[1] != reg):
            problems.append(
                ImportProblem(f"line {line}, column {column}", f"already used on line {first[0]}")
            )
    return len(problems) > before


def _row(
    cells: dict[str, str],
    line: int,
    default_day: date,
    patients: dict[str, tuple[int, PatientIn]],
    visits: list[VisitIn],
    problems: list[ImportProblem],
) -> bool:
    """Parse one row into `patients` and `visits`; False (and problems) when it is bad."""

    def bad(column: str, message: str) -> None:
        problems.append(ImportProblem(f"line {line}, column {column}", message))

    before = len(problems)
    for c in REQUIRED:
        if not cells.get(c):
            bad(c, "is required")
    day = default_day
    if cells.get("service_day"):
        try:
            day = date.fromisoformat(cells["service_day"])
        except ValueError:
            bad("service_day", f"{cells['service_day']!r} is not a date (YYYY-MM-DD)")
    birth: date | None = None
    if cells.get("birth_date"):
        try:
            birth = date.fromisoformat(cells["birth_date"])
        except ValueError:
            bad("birth_date", f"{cells['birth_date']!r} is not a date (YYYY-MM-DD)")
    priority = 5
    if cells.get("priority"):
        try:
            priority = int(cells["priority"])
        except ValueError:
            bad("priority", f"{cells['priority']!r} is not a number 0-9")
    flag = cells.get("step_free", "").lower()
    if flag not in _TRUE | _FALSE:
        bad("step_free", f"{cells['step_free']!r} is not true/false")
    if len(problems) > before:
        return False
    patient_fields: dict[str, Any] = {
        "registration_no": cells["registration_no"],
        "name": cells["name"],
        "birth_date": birth,
        "phone_last4": cells.get("phone_last4") or None,
        "card_uids": [cells["card_uid"]] if cells.get("card_uid") else [],
    }
    try:
        patient = PatientIn.model_validate(patient_fields)
    except ValidationError as e:
        _pydantic(e, bad)
        return False
    ref = cells.get("appointment_id") or (
        "csv-"
        + hashlib.sha256(f"{patient.registration_no}|{day}|{cells['steps']}".encode()).hexdigest()[
            :24
        ]
    )
    try:
        visit = VisitIn.model_validate(
            {
                "external_ref": ref,
                "registration_no": patient.registration_no,
                "service_day": day,
                "priority": priority,
                "step_free": flag in _TRUE,
                "steps": [{"room_id": s.strip()} for s in cells["steps"].split(";") if s.strip()],
            }
        )
    except ValidationError as e:
        _pydantic(e, bad)
        return False
    seen = patients.get(patient.registration_no)
    if seen is None:
        patients[patient.registration_no] = (line, patient)
    else:
        first_line, first = seen
        merged = first.model_copy(
            update={"card_uids": sorted({*first.card_uids, *patient.card_uids})}
        )
        for field in ("name", "birth_date", "phone_last4"):
            if getattr(patient, field) is not None and getattr(first, field) not in (
                None,
                getattr(patient, field),
            ):
                bad(field, f"differs from line {first_line} for the same registration_no")
                return False
        patients[patient.registration_no] = (first_line, merged)
    visits.append(visit)
    return True


def _pydantic(error: ValidationError, bad: Any) -> None:
    for err in error.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        column = _FIELD_COLUMN.get(loc[0], loc[0]) if loc else "row"
        if loc and loc[0] == "steps" and len(loc) > 1 and loc[1].isdigit():
            message = f"step {int(loc[1]) + 1}: {err['msg']}"
        else:
            message = err["msg"]
        bad(column, message)
