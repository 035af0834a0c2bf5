"""Appointments from an HL7 FHIR R4 Bundle (JSON), parsed with the `fhir.resources` models.

fhir.resources ships R4B (4.3), which reads R4 (4.0.1) Patient, Appointment, Location and
HealthcareService resources unchanged; we use its `R4B` models.

Mapping:
- Patient: the registration number is the identifier whose type is `MR` (else the first
  identifier); the name is `HumanName.text`, else family + given (Korean style, no space, when
  the family name is Hangul); `birthDate`; the last 4 digits of the first phone `telecom`; a
  card UID from an identifier with system `urn:nfc-hospital:card-uid`.
- Location / HealthcareService: a room. Its room id is the identifier with system
  `urn:nfc-hospital:room-id`, else the resource id.
- Appointment (status proposed, pending, booked, arrived or checked-in; others are skipped):
  its Patient participant, and its Location/HealthcareService participants in order as steps.
  A patient's appointments on one service day (by `start` in the hospital's time zone) become
  one visit, steps ordered by start time. `priority` 1..9 maps to our 0..8 (0/absent: 5).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from central.engine.loader import HospitalData, PatientIn, StepIn, VisitIn
from central.imports import ImportFileError, ImportProblem, ParsedImport

CARD_SYSTEM = "urn:nfc-hospital:card-uid"
ROOM_SYSTEM = "urn:nfc-hospital:room-id"
ACTIVE_STATUSES = {"proposed", "pending", "booked", "arrived", "checked-in"}


def _is_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def _patient_name(patient: Any) -> str | None:
    for name in patient.name or []:
        if name.text:
            return str(name.text)
        family = name.family or ""
        given = " ".join(name.given or [])
        if family and _is_hangul(family):
            return f"{family}{given.replace(' ', '')}"
        full = f"{given} {family}".strip()
        if full:
            return full
    return None


def _registration_no(patient: Any) -> str | None:
    ids = [i for i in (patient.identifier or []) if i.value and i.system != CARD_SYSTEM]
    for ident in ids:
        codes = [c.code for c in (ident.type.coding or [])] if ident.type else []
        if "MR" in codes:
            return str(ident.value)
    return str(ids[0].value) if ids else None


def _room_id(resource: Any) -> str:
    for ident in resource.identifier or []:
        if ident.system == ROOM_SYSTEM and ident.value:
            return str(ident.value)
    return str(resource.id)


def parse_fhir_bundle(
    raw: bytes, *, timezone: str = "Asia/Seoul", source: str = "<bundle>"
) -> ParsedImport:
    """Parse a Bundle; raises ImportFileError listing every bad entry and field."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        # A byte order mark (Windows editors write one) is not part of the JSON.
        bundle = Bundle.model_validate_json(raw.removeprefix(b"\xef\xbb\xbf"))
    except ValidationError as e:
        raise ImportFileError(
            source,
            [
                ImportProblem(_fhir_where(err["loc"]), err["msg"])
                for err in e.errors(include_url=False)
            ],
        ) from None
    tz = ZoneInfo(timezone)
    problems: list[ImportProblem] = []
    patients: dict[str, PatientIn] = {}
    patient_reg: dict[str, str] = {}
    rooms: dict[str, str] = {}
    appointments: list[tuple[int, Any]] = []
    first_entry: dict[str, int] = {}
    for index, entry in enumerate(bundle.entry or []):
        res: Any = entry.resource
        if res is None:
            continue
        kind = type(res).__name__
        where = f"entry[{index}] {kind}/{res.id}"
        first = first_entry.setdefault(f"{kind}/{res.id}", index)
        if first != index:
            problems.append(ImportProblem(where, f"the same id as entry[{first}]"))
            continue
        if kind == "Patient":
            reg = _registration_no(res)
            name = _patient_name(res)
            if reg is None:
                problems.append(ImportProblem(where, "no identifier (registration number)"))
                continue
            if name is None:
                problems.append(ImportProblem(f"{where} .name", "no usable name"))
                continue
            if name.strip()[:1] in ("=", "+", "-", "@"):
                problems.append(
                    ImportProblem(f"{where} .name", "starts like a spreadsheet formula, refused")
                )
                continue
            phone = next(
                (t.value for t in (res.telecom or []) if t.system == "phone" and t.value), None
            )
            digits = "".join(ch for ch in phone or "" if ch.isdigit())
            uids = [i.value for i in (res.identifier or []) if i.system == CARD_SYSTEM and i.value]
            try:
                patients[reg] = PatientIn(
                    registration_no=reg,
                    name=name,
                    birth_date=res.birthDate,
                    phone_last4=digits[-4:] if len(digits) >= 4 else None,
                    card_uids=uids,
                )
            except ValidationError as e:
                for err in e.errors(include_url=False):
                    field = ".".join(str(p) for p in err["loc"])
                    problems.append(ImportProblem(f"{where} .{field}", err["msg"]))
                continue
            patient_reg[f"Patient/{res.id}"] = reg
        elif kind in ("Location", "HealthcareService"):
            rooms[f"{kind}/{res.id}"] = _room_id(res)
        elif kind == "Appointment":
            appointments.append((index, res))

    grouped: dict[tuple[str, date], list[tuple[datetime, str, list[str], int, str]]] = defaultdict(
        list
    )
    for index, appt in appointments:
        where = f"entry[{index}] Appointment/{appt.id}"
        if appt.status not in ACTIVE_STATUSES:
            continue
        if appt.start is None:
            problems.append(ImportProblem(f"{where} .start", "an active appointment needs a start"))
            continue
        reg = None
        steps: list[str] = []
        for i, part in enumerate(appt.participant or []):
            ref = part.actor.reference if part.actor else None
            if not ref:
                continue
            if ref.startswith("Patient/"):
                reg = patient_reg.get(ref)
                if reg is None:
                    problems.append(
                        ImportProblem(
                            f"{where} .participant[{i}]", f"{ref} is not a Patient in the bundle"
                        )
                    )
            elif ref.startswith(("Location/", "HealthcareService/")):
                room = rooms.get(ref)
                if room is None:
                    problems.append(
                        ImportProblem(f"{where} .participant[{i}]", f"{ref} is not in the bundle")
                    )
                else:
                    steps.append(room)
        if reg is None:
            if not any(p.where.startswith(where) for p in problems):
                problems.append(ImportProblem(f"{where} .participant", "no Patient participant"))
            continue
        if not steps:
            problems.append(
                ImportProblem(f"{where} .participant", "no Location or HealthcareService")
            )
            continue
        start = appt.start if appt.start.tzinfo else appt.start.replace(tzinfo=tz)
        day = start.astimezone(tz).date()
        priority = 5 if not appt.priority else max(0, min(9, int(appt.priority) - 1))
        grouped[(reg, day)].append((start, str(appt.id), steps, priority, where))

    visits: list[VisitIn] = []
    sources: list[str] = []
    for (reg, day), appts in sorted(grouped.items()):
        appts.sort()
        ids = ",".join(a[1] for a in appts)
        ref = (
            "fhir:" + ids if len(ids) <= 100 else "fhir:" + hashlib.sha256(ids.encode()).hexdigest()
        )
        visit_steps = [StepIn(room_id=r) for a in appts for r in a[2]]
        try:
            visits.append(
                VisitIn(
                    external_ref=ref,
                    registration_no=reg,
                    service_day=day,
                    priority=min(a[3] for a in appts),
                    steps=visit_steps,
                )
            )
        except ValidationError as e:
            for err in e.errors(include_url=False):
                problems.append(ImportProblem(appts[0][4], err["msg"]))
            continue
        sources.append(appts[0][4])
    if not problems and not visits and not patients:
        problems.append(ImportProblem("Bundle", "no Patient or Appointment entries"))
    if problems:
        raise ImportFileError(source, problems)
    data = HospitalData(patients=list(patients.values()), visits=visits)
    return ParsedImport(data=data, visit_sources=sources)


def _fhir_where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "entry" and parts[1].isdigit():
        rest = ".".join(parts[2:])
        return f"entry[{parts[1]}] .{rest}" if rest else f"entry[{parts[1]}]"
    return "Bundle ." + ".".join(parts) if parts else "Bundle"
