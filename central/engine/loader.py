"""Loading a hospital's reference data and today's appointments, all or nothing.

Seed data, CSV and FHIR imports all become one `HospitalData` document, validated by pydantic
(every error names its path), then applied by `Engine.load` in one transaction. Each new
visit is registered through the journey table (UNREGISTERED -> REGISTERED by the EMR) with its
audit row, like every other change of state. Loading the same data twice changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from sqlalchemy import Connection, insert, select, update

from central.engine.errors import Rejected
from central.engine.tx import Tx, VisitRow
from central.store.schema import (
    cards,
    departments,
    patients,
    room_versions,
    rooms,
    stations,
    visit_steps,
    visits,
)
from protocol.base import ID_PATTERN, LocalizedText, Model
from protocol.ids import card_hash, mask_name, normalize_uid
from protocol.journey import Action, State, Trigger
from protocol.messages import RoomKind

StepKind = Literal["exam", "consultation", "procedure", "imaging", "lab", "payment", "other"]


class DepartmentIn(Model):
    """A department."""

    department_id: str = Field(pattern=ID_PATTERN, description="Department id.")
    name: LocalizedText = Field(description="Department name.")
    sort_order: int = Field(default=0, description="Position in lists.")


class RoomIn(Model):
    """A room (service point) patients queue for."""

    room_id: str = Field(pattern=ID_PATTERN, description="Room id.")
    department_id: str = Field(pattern=ID_PATTERN, description="Department id.")
    name: LocalizedText = Field(description="Room name.")
    kind: RoomKind = Field(description="What happens there.")
    floor_label: str = Field(max_length=8, description="Floor as patients know it.")
    node_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Door on the map.")
    avg_service_s: int = Field(ge=1, le=36000, description="Mean service time, seconds.")
    capacity: int = Field(default=1, ge=1, le=100, description="Desks serving in parallel.")
    open: bool = Field(default=True, description="Open for check-ins.")
    prep_notes: LocalizedText | None = Field(default=None, description="Preparation notes.")
    sort_order: int = Field(default=0, description="Position in lists.")


class StationIn(Model):
    """A check-in station."""

    station_id: str = Field(pattern=ID_PATTERN, description="Station id.")
    name: LocalizedText = Field(description="Where it stands.")
    node_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Map node.")


class PatientIn(Model):
    """A patient: only what the system needs (DESIGN §5)."""

    registration_no: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", description="Hospital registration number."
    )
    name: str = Field(min_length=1, max_length=100, description="Full name (staff only).")
    birth_date: date | None = Field(default=None, description="For the phone login only.")
    phone_last4: str | None = Field(
        default=None, pattern=r"^\d{4}$", description="Last 4 phone digits, for the phone login."
    )
    card_uids: list[str] = Field(
        default_factory=list, max_length=10, description="Card UIDs; stored only as keyed hashes."
    )

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("name is blank")
        return value

    @field_validator("card_uids")
    @classmethod
    def _uids(cls, value: list[str]) -> list[str]:
        return [normalize_uid(u) for u in value]


class StepIn(Model):
    """One step of a visit."""

    room_id: str = Field(pattern=ID_PATTERN, description="Room of the step.")
    label: LocalizedText | None = Field(
        default=None, description="What the step is; the room name when omitted."
    )
    kind: StepKind = Field(default="exam", description="Kind of step.")


class VisitIn(Model):
    """A visit on one service day: ordered steps in rooms."""

    visit_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Visit id; derived when omitted."
    )
    external_ref: str | None = Field(
        default=None, max_length=128, description="The EMR's id (e.g. a FHIR Appointment id)."
    )
    registration_no: str = Field(description="The patient's registration number.")
    service_day: date = Field(description="The day of the visit.")
    priority: int = Field(default=5, ge=0, le=9, description="Priority class; 0 most urgent.")
    step_free: bool = Field(default=False, description="Needs step-free routes.")
    steps: list[StepIn] = Field(min_length=1, max_length=20, description="Ordered steps.")

    @model_validator(mode="after")
    def _some_id(self) -> VisitIn:
        if self.visit_id is None and self.external_ref is None:
            raise ValueError("a visit needs a visit_id or an external_ref")
        return self

    def derived_id(self) -> str:
        if self.visit_id:
            return self.visit_id
        assert self.external_ref is not None
        return "v" + hashlib.sha256(self.external_ref.encode()).hexdigest()[:24]


class HospitalData(Model):
    """Everything a seed or an import file brings, validated before anything is written."""

    departments: list[DepartmentIn] = Field(default_factory=list, description="Departments.")
    rooms: list[RoomIn] = Field(default_factory=list, description="Rooms.")
    stations: list[StationIn] = Field(default_factory=list, description="Stations.")
    patients: list[PatientIn] = Field(default_factory=list, description="Patients.")
    visits: list[VisitIn] = Field(default_factory=list, description="Visits.")


@dataclass
class LoadReport:
    """What `Engine.load` did, per kind: created, updated, unchanged."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, what: str, n: int = 1) -> None:
        per = self.counts.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0})
        per[what] += n

    def summary(self) -> str:
        return ", ".join(
            f"{kind}: {c['created']} new, {c['updated']} updated, {c['unchanged']} unchanged"
            for kind, c in self.counts.items()
        )


def patient_id_for(registration_no: str) -> str:
    """Stable, opaque patient id (no personal data in it)."""
    return "p" + hashlib.sha256(registration_no.encode()).hexdigest()[:24]


def masked(name: str) -> str:
    """mask_name, never without a mask character (public screens refuse unmasked names)."""
    m = mask_name(name)
    return m if "*" in m else "*" * min(max(len(name), 1), 3)


def _upsert(
    conn: Connection,
    table: Any,
    key: str,
    rows: list[dict[str, Any]],
    report: LoadReport,
    kind: str,
) -> set[str]:
    """Insert new rows, update changed ones; returns the keys that were created."""
    if not rows:
        return set()
    col = table.c[key]
    existing = {
        r._mapping[key]: dict(r._mapping)
        for r in conn.execute(select(table).where(col.in_([row[key] for row in rows])))
    }
    created: set[str] = set()
    for row in rows:
        old = existing.get(row[key])
        if old is None:
            conn.execute(insert(table).values(**row))
            created.add(row[key])
            report.add(kind, "created")
        elif any(old.get(k) != v for k, v in row.items() if k not in ("created_at",)):
            changes = {k: v for k, v in row.items() if k not in ("created_at", key)}
            conn.execute(update(table).where(col == row[key]).values(**changes))
            report.add(kind, "updated")
        else:
            report.add(kind, "unchanged")
    return created


def load(tx: Tx, data: HospitalData, site_key: bytes, actor: str) -> LoadReport:
    """Apply `data` in the caller's transaction; raises Rejected (nothing kept) on a conflict."""
    conn = tx.conn
    report = LoadReport()
    _upsert(
        conn,
        departments,
        "department_id",
        [d.model_dump(mode="json") for d in data.departments],
        report,
        "departments",
    )
    known_departments = set(conn.execute(select(departments.c.department_id)).scalars())
    room_rows = []
    for i, r in enumerate(data.rooms):
        if r.department_id not in known_departments:
            raise Rejected.of(
                "invalid_input",
                detail=f"rooms[{i}] ({r.room_id}): unknown department {r.department_id!r}",
            )
        row = r.model_dump(mode="json")
        row["prep_notes"] = r.prep_notes.model_dump(mode="json") if r.prep_notes else None
        room_rows.append(row)
    new_rooms = _upsert(conn, rooms, "room_id", room_rows, report, "rooms")
    if room_rows:
        tx.rooms_directory_changed = True
        tx.rooms_changed.update(r["room_id"] for r in room_rows if r["room_id"] not in new_rooms)
    for room_id in sorted(new_rooms):
        conn.execute(insert(room_versions).values(room_id=room_id, version=1, changed_at=tx.now))
    station_rows = [
        {
            "station_id": s.station_id,
            "name": s.name.model_dump(mode="json"),
            "node_id": s.node_id,
            "created_at": tx.now,
        }
        for s in data.stations
    ]
    created_stations = _upsert(conn, stations, "station_id", station_rows, report, "stations")
    tx.leases_changed.update(created_stations)

    patient_rows = []
    for p in data.patients:
        patient_rows.append(
            {
                "patient_id": patient_id_for(p.registration_no),
                "registration_no": p.registration_no,
                "name": p.name,
                "masked_name": masked(p.name),
                "birth_date": p.birth_date,
                "phone_last4": p.phone_last4,
                "created_at": tx.now,
            }
        )
    if patient_rows:
        _upsert(conn, patients, "patient_id", patient_rows, report, "patients")
        tx.cards_changed = True
    card_rows: dict[str, str] = {}
    for i, p in enumerate(data.patients):
        for uid in p.card_uids:
            h = card_hash(site_key, uid)
            owner = patient_id_for(p.registration_no)
            if card_rows.setdefault(h, owner) != owner:
                raise Rejected.of(
                    "invalid_input", detail=f"patients[{i}]: card {uid[:4]}… given to two patients"
                )
    if card_rows:
        existing = {
            r.card_hash: r.patient_id
            for r in conn.execute(
                select(cards.c.card_hash, cards.c.patient_id).where(
                    cards.c.card_hash.in_(list(card_rows))
                )
            )
        }
        for h, owner in card_rows.items():
            if h in existing:
                if existing[h] != owner:
                    raise Rejected.of(
                        "invalid_input",
                        detail="a card in this file already belongs to another patient",
                    )
                report.add("cards", "unchanged")
            else:
                conn.execute(
                    insert(cards).values(
                        card_hash=h, patient_id=owner, active=True, issued_at=tx.now
                    )
                )
                report.add("cards", "created")

    if data.visits:
        _load_visits(tx, data, report, actor)
    return report


def _load_visits(tx: Tx, data: HospitalData, report: LoadReport, actor: str) -> None:
    conn = tx.conn
    room_names = {r.room_id: r.name for r in conn.execute(select(rooms.c.room_id, rooms.c.name))}
    regs = {v.registration_no for v in data.visits}
    known_patients = {
        r.registration_no: r
        for r in conn.execute(
            select(patients.c.patient_id, patients.c.registration_no, patients.c.masked_name).where(
                patients.c.registration_no.in_(list(regs))
            )
        )
    }
    ids = [v.derived_id() for v in data.visits]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise Rejected.of("duplicate", detail=f"visit {dup} appears twice in the file")
    refs = [v.external_ref for v in data.visits if v.external_ref]
    existing = {
        r.visit_id: r.external_ref
        for r in conn.execute(
            select(visits.c.visit_id, visits.c.external_ref).where(
                visits.c.visit_id.in_(ids) | visits.c.external_ref.in_(refs)
            )
        )
    }
    existing_refs = {ref: vid for vid, ref in existing.items() if ref}
    visit_rows = []
    step_rows = []
    for i, v in enumerate(data.visits):
        vid = v.derived_id()
        if vid in existing or (v.external_ref and v.external_ref in existing_refs):
            report.add("visits", "unchanged")
            continue
        p = known_patients.get(v.registration_no)
        if p is None:
            raise Rejected.of(
                "invalid_input",
                detail=f"visits[{i}]: unknown patient registration number {v.registration_no!r}",
            )
        for j, s in enumerate(v.steps):
            if s.room_id not in room_names:
                raise Rejected.of(
                    "invalid_input", detail=f"visits[{i}].steps[{j}]: unknown room {s.room_id!r}"
                )
            label = s.label.model_dump(mode="json") if s.label else dict(room_names[s.room_id])
            step_rows.append(
                {
                    "visit_id": vid,
                    "step_index": j,
                    "room_id": s.room_id,
                    "planned_room_id": s.room_id,
                    "label": label,
                    "kind": s.kind,
                    "done": False,
                }
            )
        row = VisitRow(
            visit_id=vid,
            patient_id=p.patient_id,
            patient_name="",
            masked_name=p.masked_name,
            registration_no=v.registration_no,
            service_day=v.service_day,
            state=State.UNREGISTERED,
            current_step=0,
            priority=v.priority,
            step_free=v.step_free,
            external_ref=v.external_ref,
            updated_at=tx.now,
        )
        tx.transition(
            row,
            Action.REGISTER,
            Trigger.EMR,
            actor,
            room_id=None,
            detail={"external_ref": v.external_ref} if v.external_ref else {},
        )
        visit_rows.append(
            {
                "visit_id": vid,
                "patient_id": p.patient_id,
                "service_day": v.service_day,
                "state": row.state.value,
                "current_step": 0,
                "priority": v.priority,
                "step_free": v.step_free,
                "external_ref": v.external_ref,
                "created_at": tx.now,
                "updated_at": tx.now,
            }
        )
        report.add("visits", "created")
    if visit_rows:
        conn.execute(insert(visits), visit_rows)
        conn.execute(insert(visit_steps), step_rows)
