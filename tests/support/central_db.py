"""Fixtures for central's engine tests: the same tests on SQLite and on PostgreSQL.

SQLite: a migrated template file per session, copied per test. PostgreSQL: one migrated
schema (`central_engine_test`) in the session's `postgres_db`, truncated before each test, so
tests stay independent and fast. Import the fixtures into a test module with
`from tests.support.central_db import *  # noqa: F403`.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from central.clock import FakeClock
from central.config import QueueSettings
from central.engine import Engine
from central.engine.loader import (
    DepartmentIn,
    HospitalData,
    PatientIn,
    RoomIn,
    StationIn,
    StepIn,
    VisitIn,
)
from central.store import Database
from central.store.schema import metadata
from protocol.base import LocalizedText
from protocol.ids import card_hash
from protocol.messages import CheckInEvent, EventBatch, TapEvent

SITE_KEY = b"test-site-key-0123456789abcdef!!"
# 09:30 in Seoul on 2026-11-27: the middle of a service day.
START = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
DAY = date(2026, 11, 27)
PG_SCHEMA = "central_engine_test"

__all__ = ["central_db", "clock", "engine", "make_engine", "sqlite_template"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("central-template") / "template.db"
    db = Database(str(path))
    db.migrate()
    db.dispose()
    return path


_pg_ready: set[str] = set()


def pg_database(postgres_db: Any) -> Database:
    """The engine-test schema in the session's PostgreSQL database, migrated and emptied."""
    url = f"{postgres_db.sqlalchemy_url}?options=-csearch_path%3D{PG_SCHEMA}"
    if postgres_db.name not in _pg_ready:
        admin = Database(postgres_db.sqlalchemy_url)
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
        admin.dispose()
        db = Database(url)
        db.migrate()
        db.dispose()
        _pg_ready.add(postgres_db.name)
    db = Database(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def central_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty central database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "central.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(str(path))
    else:
        db = pg_database(request.getfixturevalue("postgres_db"))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def make_engine(db: Database, clock: FakeClock, **queue: Any) -> Engine:
    return Engine(db, site_key=SITE_KEY, clock=clock, queue=QueueSettings(**queue))


@pytest.fixture
def engine(central_db: Database, clock: FakeClock) -> Engine:
    return make_engine(central_db, clock)


# ------------------------------------------------------------------------ small hospitals


def uid_for(n: int) -> str:
    return f"04{n:012X}"


def hash_for(n: int) -> str:
    return card_hash(SITE_KEY, uid_for(n))


def small_hospital(
    visits: dict[str, list[str]],
    *,
    day: date = DAY,
    rooms: tuple[str, ...] = ("r1", "r2", "r3"),
    priorities: dict[str, int] | None = None,
    capacity: int = 1,
    stations: tuple[str, ...] = ("st-a", "st-b"),
) -> HospitalData:
    """Rooms r1..r3, stations st-a/st-b, and one patient per visit: visit `vX` belongs to
    patient number X (card uid_for(X)), with the given rooms as steps."""
    priorities = priorities or {}
    patients = []
    visit_rows = []
    for i, (visit_id, steps) in enumerate(visits.items(), start=1):
        reg = f"R{i:05d}"
        patients.append(
            PatientIn(registration_no=reg, name=f"김민{chr(0xAC00 + i)}", card_uids=[uid_for(i)])
        )
        visit_rows.append(
            VisitIn(
                visit_id=visit_id,
                registration_no=reg,
                service_day=day,
                priority=priorities.get(visit_id, 5),
                steps=[StepIn(room_id=r) for r in steps],
            )
        )
    return HospitalData(
        departments=[DepartmentIn(department_id="d1", name=LocalizedText(ko="내과", en="IM"))],
        rooms=[
            RoomIn(
                room_id=r,
                department_id="d1",
                name=LocalizedText(ko=f"{r} 진료실", en=f"Room {r}"),
                kind="consultation",
                floor_label="1F",
                avg_service_s=300,
                capacity=capacity,
            )
            for r in rooms
        ],
        stations=[StationIn(station_id=s, name=LocalizedText(ko=s, en=s)) for s in stations],
        patients=patients,
        visits=visit_rows,
    )


def hlc(ms_after_start: int, node: str = "st-a", counter: int = 0) -> str:
    wall = int(START.timestamp() * 1000) + ms_after_start
    return f"{wall:015d}.{counter:06d}.{node}"


def check_in(
    seq: int,
    visit_id: str,
    patient: int,
    room_id: str,
    *,
    ticket: int | None = None,
    lease_id: str | None = None,
    at_ms: int = 0,
    node: str = "st-a",
    day: date = DAY,
    step_index: int = 0,
    event_id: uuid.UUID | None = None,
) -> CheckInEvent:
    return CheckInEvent(
        kind="check_in",
        event_id=event_id or uuid.uuid4(),
        station_seq=seq,
        hlc=hlc(at_ms, node),
        wall_time=START,
        card_hash=hash_for(patient),
        visit_id=visit_id,
        room_id=room_id,
        step_index=step_index,
        service_day=day,
        ticket_number=ticket,
        lease_id=lease_id,
    )


def tap(seq: int, patient: int, node: str = "st-a") -> TapEvent:
    return TapEvent(
        kind="tap",
        event_id=uuid.uuid4(),
        station_seq=seq,
        hlc=hlc(seq, node),
        wall_time=START,
        card_hash=hash_for(patient),
        visit_id=None,
        outcome="already_waiting",
    )


def batch(station_id: str, *events: Any) -> EventBatch:
    return EventBatch(station_id=station_id, sent_at=START, events=list(events))
