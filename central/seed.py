"""The sample hospital: `central/data/sample_hospital.json` plus 200 generated patients.

Deterministic from a seed: the same seed and day give the same patients, card UIDs and visits,
so the demo, the simulator, the tests and the benchmarks can tap the cards (`SampleHospital.
card_uids`) without central ever storing a UID.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from central.engine.loader import (
    DepartmentIn,
    HospitalData,
    PatientIn,
    RoomIn,
    StationIn,
    StepIn,
    VisitIn,
)
from protocol.base import LocalizedText

DEFAULT_SEED = 20261127
DEFAULT_PATIENTS = 200

_FAMILY = (
    "김" * 21 + "이" * 15 + "박" * 8 + "최" * 5 + "정" * 5 + "강조윤장임한오서신권황안송류전홍"
)
_GIVEN = "민서지현수영준우하은도윤예진성혜재경미정호석철순자숙희동태연주원상"
_FOREIGN = (
    "John Smith",
    "Maria Garcia",
    "Nguyen Van An",
    "Tanaka Yuki",
    "Li Wei",
    "Olga Ivanova",
)

_CONSULT_ROOMS = {
    "internal": ("im-1", "im-2", "im-3"),
    "cardiology": ("card-1", "card-2"),
    "ent": ("ent-1", "ent-2"),
    "orthopedics": ("os-1", "os-2"),
    "surgery": ("gs-1", "gs-2"),
    "ophthalmology": ("eye-1", "eye-2"),
    "dermatology": ("derm-1", "derm-2"),
}
_TESTS_BY_DEPT = {
    "internal": ("lab", "xray", "endo-1", "ct-1"),
    "cardiology": ("lab", "ecg-1", "echo-1", "xray"),
    "ent": ("xray", "lab"),
    "orthopedics": ("xray", "mri-1", "ct-1"),
    "surgery": ("lab", "ct-1", "xray"),
    "ophthalmology": ("eye-exam-1",),
    "dermatology": ("lab",),
}
_TEST_LABELS = {
    "lab": (("혈액검사", "Blood test", "验血", "血液検査"), "lab"),
    "xray": (("X-ray 촬영", "X-ray", "X光检查", "X線撮影"), "imaging"),
    "ct-1": (("CT 촬영", "CT scan", "CT检查", "CT検査"), "imaging"),
    "mri-1": (("MRI 촬영", "MRI scan", "核磁共振检查", "MRI検査"), "imaging"),
    "ecg-1": (("심전도 검사", "ECG", "心电图检查", "心電図検査"), "exam"),
    "echo-1": (("심장초음파 검사", "Echocardiogram", "心脏超声检查", "心エコー検査"), "exam"),
    "endo-1": (("내시경 검사", "Endoscopy", "内窥镜检查", "内視鏡検査"), "procedure"),
    "eye-exam-1": (("시력·안압 검사", "Eye tests", "视力检查", "視力検査"), "exam"),
}


@dataclass(frozen=True)
class SampleHospital:
    """The sample data and the card UIDs of its patients (for simulated taps)."""

    data: HospitalData
    card_uids: dict[str, str]
    """registration_no -> card UID."""
    visit_cards: dict[str, str]
    """visit_id -> card UID."""


def load_sample_json() -> dict[str, Any]:
    text = (Path(__file__).parent / "data" / "sample_hospital.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _text(t: tuple[str, str, str, str]) -> LocalizedText:
    return LocalizedText(ko=t[0], en=t[1], zh=t[2], ja=t[3])


def _name(rng: random.Random) -> str:
    if rng.random() < 0.03:
        return rng.choice(_FOREIGN)
    family = "남궁" if rng.random() < 0.01 else rng.choice(_FAMILY)
    given = "".join(rng.choice(_GIVEN) for _ in range(1 if rng.random() < 0.05 else 2))
    return family + given


def sample_hospital(
    day: date, *, seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS
) -> SampleHospital:
    """The sample hospital with `patients` patients, each with one visit on `day`.

    Patients and cards depend only on `seed` (the same people every day); visits depend on
    `seed` and `day`.
    """
    raw = load_sample_json()
    departments = [
        DepartmentIn(department_id=d["department_id"], name=d["name"], sort_order=i)
        for i, d in enumerate(raw["departments"])
    ]
    rooms = [
        RoomIn(
            room_id=r["room_id"],
            department_id=r["department_id"],
            name=r["name"],
            kind=r["kind"],
            floor_label=r["floor_label"],
            node_id=r.get("node_id"),
            avg_service_s=r["avg_service_s"],
            capacity=r.get("capacity", 1),
            prep_notes=r.get("prep_notes"),
            sort_order=i,
        )
        for i, r in enumerate(raw["rooms"])
    ]
    room_by_id = {r.room_id: r for r in rooms}
    dept_names = {d.department_id: d.name for d in departments}
    stations = [
        StationIn(station_id=s["station_id"], name=s["name"], node_id=s.get("node_id"))
        for s in raw["stations"]
    ]

    people_rng = random.Random(seed)
    visit_rng = random.Random(f"{seed}-{day.isoformat()}")
    patient_rows: list[PatientIn] = []
    visit_rows: list[VisitIn] = []
    card_uids: dict[str, str] = {}
    visit_cards: dict[str, str] = {}
    used_uids: set[str] = set()
    for i in range(patients):
        name = _name(people_rng)
        age = min(95, max(1, int(people_rng.gauss(58, 18))))
        birth = date(day.year - age, people_rng.randint(1, 12), people_rng.randint(1, 28))
        phone = f"{people_rng.randint(0, 9999):04d}"
        uid = "04" + "".join(f"{people_rng.randint(0, 255):02X}" for _ in range(6))
        while uid in used_uids:
            uid = "04" + "".join(f"{people_rng.randint(0, 255):02X}" for _ in range(6))
        used_uids.add(uid)
        wheelchair = people_rng.random() < 0.04
        reg = f"H{10_000_000 + i * 7_919:08d}"
        patient_rows.append(
            PatientIn(
                registration_no=reg, name=name, birth_date=birth, phone_last4=phone, card_uids=[uid]
            )
        )
        card_uids[reg] = uid

        dept = visit_rng.choice(sorted(_CONSULT_ROOMS))
        n_steps = visit_rng.choices((1, 2, 3, 4, 5), weights=(30, 30, 22, 12, 6))[0]
        tests = list(_TESTS_BY_DEPT[dept])
        visit_rng.shuffle(tests)
        chosen = tests[: n_steps - 1]
        steps: list[StepIn] = []
        for t in chosen:
            labels, kind = _TEST_LABELS[t]
            if t == "lab":
                room_id = visit_rng.choice(("lab-1", "lab-2"))
            elif t == "xray":
                room_id = visit_rng.choice(("xray-1", "xray-2"))
            else:
                room_id = t
            steps.append(StepIn(room_id=room_id, label=_text(labels), kind=kind))
        consult_room = visit_rng.choice(_CONSULT_ROOMS[dept])
        dn = dept_names[dept]
        steps.append(
            StepIn(
                room_id=consult_room,
                label=LocalizedText(
                    ko=f"{dn.ko} 진료",
                    en=f"{dn.en} consultation",
                    zh=f"{dn.zh}门诊" if dn.zh else None,
                    ja=f"{dn.ja}診察" if dn.ja else None,
                ),
                kind="consultation",
            )
        )
        # Fewer than n_steps when the department has few tests; a 5-step day adds a follow-up.
        if n_steps == 5 and len(steps) < 5:
            steps.append(
                StepIn(room_id="xray-1", label=_text(_TEST_LABELS["xray"][0]), kind="imaging")
            )
        assert all(s.room_id in room_by_id for s in steps)
        if visit_rng.random() < 0.01:
            priority = 0
        elif wheelchair:
            priority = 2
        elif age >= 80:
            priority = 3
        else:
            priority = 5
        visit_id = f"v{day:%Y%m%d}-{i + 1:04d}"
        visit_rows.append(
            VisitIn(
                visit_id=visit_id,
                external_ref=f"sample-{day:%Y%m%d}-{i + 1:04d}",
                registration_no=reg,
                service_day=day,
                priority=priority,
                step_free=wheelchair,
                steps=steps,
            )
        )
        visit_cards[visit_id] = uid
    data = HospitalData(
        departments=departments,
        rooms=rooms,
        stations=stations,
        patients=patient_rows,
        visits=visit_rows,
    )
    return SampleHospital(data=data, card_uids=card_uids, visit_cards=visit_cards)
