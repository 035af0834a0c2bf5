"""Parsing import files: CSV and FHIR R4 Bundles into HospitalData, with errors that name
the line and column (CSV) or the entry and field (FHIR)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from central.imports import ImportFileError, check_rooms, parse_file

DATA = Path(__file__).parent.parent / "data"
DAY = date(2026, 11, 27)


def problems(path: Path) -> list[str]:
    with pytest.raises(ImportFileError) as info:
        parse_file(path, default_day=DAY)
    assert "nothing imported" in str(info.value)
    return [str(p) for p in info.value.problems]


def test_good_csv_becomes_patients_and_visits():
    parsed = parse_file(DATA / "appointments_good.csv", default_day=DAY)
    data = parsed.data
    assert [p.registration_no for p in data.patients] == ["H20000001", "H20000002", "H20000003"]
    first = data.patients[0]
    assert (first.name, first.birth_date, first.phone_last4) == ("김민수", date(1950, 3, 2), "1234")
    assert first.card_uids == ["04A1B2C3D4E5F6"]
    assert data.patients[2].card_uids == ["04A1B2C3D4E5F8"]  # separators normalised
    v = {x.external_ref: x for x in data.visits}
    assert [s.room_id for s in v["APT-001"].steps] == ["lab-1", "xray-1", "im-1"]
    assert v["APT-001"].priority == 3
    assert (v["APT-002"].priority, v["APT-002"].step_free) == (5, False)
    assert (v["APT-003"].service_day, v["APT-003"].step_free) == (DAY, True)
    assert v["APT-004"].service_day == date(2026, 11, 28)
    assert parsed.visit_sources[0] == "line 2, column steps"


def test_bad_csv_names_every_line_and_column():
    found = problems(DATA / "appointments_bad.csv")
    assert "line 2, column birth_date: '1950-13-02' is not a date (YYYY-MM-DD)" in found
    assert "line 3, column name: is required" in found
    assert "line 4, column priority: 'high' is not a number 0-9" in found
    assert "line 4, column step_free: 'maybe' is not true/false" in found
    assert "line 5, column steps: is required" in found
    assert len(found) == 5


def test_csv_field_errors_from_the_models_name_their_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "registration_no,name,phone_last4,card_uid,steps\n"
        "H1,김민수,12345,04A1B2C3D4E5F6,im-1\n"
        "H2,이서연,1234,XYZ,im-1\n"
        "H3,박지훈,1234,04A1B2C3D4E5F7,IM 1\n",
        encoding="utf-8",
    )
    found = problems(path)
    assert any(p.startswith("line 2, column phone_last4:") for p in found)
    assert any(p.startswith("line 3, column card_uid:") and "hex" in p for p in found)
    assert any(p.startswith("line 4, column steps: step 1:") for p in found)


def test_csv_header_problems(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("registration_no,nam,steps\nH1,김,im-1\n", encoding="utf-8")
    found = problems(path)
    assert found[0].startswith("line 1 (header): missing column(s): ['name']")
    assert "unknown column(s): ['nam']" in found[1]


def test_csv_rows_for_one_patient_must_agree(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "registration_no,name,birth_date,steps\nH1,김민수,1950-01-01,im-1\nH1,김민수,1951-01-01,os-1\n",
        encoding="utf-8",
    )
    assert problems(path) == [
        "line 3, column birth_date: differs from line 2 for the same registration_no"
    ]


def test_unknown_rooms_are_reported_with_their_line():
    parsed = parse_file(DATA / "appointments_good.csv", default_day=DAY)
    with pytest.raises(ImportFileError) as info:
        check_rooms(parsed, {"lab-1", "im-1", "card-1", "ent-1", "os-1"}, "f.csv")
    assert [str(p) for p in info.value.problems] == [
        "line 2, column steps: step 2: unknown room 'xray-1'"
    ]


def test_fhir_bundle_groups_a_patients_appointments_into_one_visit():
    parsed = parse_file(DATA / "appointments_bundle.json", default_day=DAY)
    data = parsed.data
    kim, maria = data.patients
    assert (kim.registration_no, kim.name, kim.phone_last4) == ("H40000001", "김민수", "4321")
    assert kim.card_uids == ["04B1B2C3D4E5F6"]
    assert kim.birth_date == date(1944, 5, 6)
    assert (maria.name, maria.card_uids) == ("Maria Garcia", [])
    visits = {v.registration_no: v for v in data.visits}
    # ordered by start time, not by bundle order; Location mapped through its room-id identifier
    assert [s.room_id for s in visits["H40000001"].steps] == ["lab-1", "im-1"]
    assert visits["H40000001"].external_ref == "fhir:appt-1,appt-2"
    assert visits["H40000001"].priority == 1  # FHIR priority 2 -> our class 1
    assert visits["H40000001"].service_day == DAY
    # the cancelled appointment is skipped
    assert [s.room_id for s in visits["H40000002"].steps] == ["im-1"]


def test_fhir_bundle_problems_name_entry_and_field():
    found = problems(DATA / "appointments_bundle_bad.json")
    assert (
        "entry[1] Appointment/appt-1 .participant[0]: Patient/nobody is not a Patient in the bundle"
        in found
    )
    assert (
        "entry[1] Appointment/appt-1 .participant[1]: Location/lab-1 is not in the bundle" in found
    )
    assert "entry[2] Appointment/appt-2 .start: an active appointment needs a start" in found


def test_fhir_model_errors_are_located():
    found = problems(DATA / "appointments_bundle_invalid.json")
    assert any(p.startswith("entry[0] .resource.birthDate") for p in found)


def test_other_files_are_refused(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text("<Bundle/>", encoding="utf-8")
    assert problems(path) == ["file: expected a .csv file or a FHIR Bundle .json file"]
    assert problems(tmp_path / "missing.csv")[0].startswith("file:")
