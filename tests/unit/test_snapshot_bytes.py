"""A room snapshot's bytes are exactly what pydantic writes for the validated model (issue #13).

The engine writes the snapshot's JSON straight from the rows (a thousand model objects cost
more than the queries), and kiosks, edge stations and the dashboard decode it with the
protocol models: the bytes must stay those of `protocol.codec.encode(RoomQueueSnapshot(...))`
built the plain way (one model per entry, one `estimate` call per place), for any queue.
Random queues on SQLite and PostgreSQL: awkward masked names and desks (quotes, backslashes,
control characters, Hangul, emoji, U+2028), priorities, calls, missed calls, patients in the
room, a cold and a warm estimator, clock times with and without microseconds.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pydantic_core
import pytest
from sqlalchemy import and_, select, update

from central.clock import FakeClock
from central.engine import Engine, RoomInfo, SimpleEstimator, WaitEstimator, reads
from central.estimator import RoomStatsEstimator
from central.store import Database
from central.store.schema import (
    patients,
    queue_entries,
    room_days,
    room_versions,
    rooms,
    visits,
)
from protocol.base import SCHEMA_VERSION
from protocol.codec import decode, encode
from protocol.messages import RoomQueueSnapshot
from tests.support.central_db import (  # noqa: F401
    SITE_KEY,
    START,
    central_db,
    small_hospital,
    sqlite_template,
)

NAMES = [
    "김*수",
    "J*** S****",
    'say "hi"*',
    "back\\slash*",
    "ctl\x01\x08\x0c\x1f*",
    "tab\t*\nnew\rline",
    "\u2028*\u2029",
    "😀*🏥",
    "*",
    "",
    "ü*ß é",
    "\x7f*\u00a0",
    "</script>*",
]
DESKS = ["d1", 'q"2', "데스크3", "t\t4", "b\\5", "😀6", "\x1b7"]


def reference(engine: Engine, room_id: str) -> bytes:
    """The snapshot built the plain way: rows by attribute, one `estimate` per place, the
    pydantic model validated from the document and encoded by the protocol codec."""
    day = engine.service_day()
    q = queue_entries.c
    with engine.db.read() as conn:
        head = conn.execute(
            select(
                room_versions.c.version,
                rooms.c.open,
                rooms.c.capacity,
                rooms.c.avg_service_s,
                room_days.c.served,
            )
            .select_from(
                room_versions.join(rooms, rooms.c.room_id == room_versions.c.room_id).outerjoin(
                    room_days,
                    and_(room_days.c.room_id == room_id, room_days.c.service_day == day),
                )
            )
            .where(room_versions.c.room_id == room_id)
        ).one()
        rows = conn.execute(
            select(queue_entries, patients.c.masked_name)
            .select_from(
                queue_entries.join(visits, visits.c.visit_id == q.visit_id).join(
                    patients, patients.c.patient_id == visits.c.patient_id
                )
            )
            .where(
                q.room_id == room_id,
                q.service_day == day,
                q.state.in_(["WAITING", "CALLED", "ONGOING"]),
            )
        ).all()
    info = RoomInfo(room_id, head.capacity, head.avg_service_s, bool(head.open))
    waiting = sorted(
        (r for r in rows if r.state == "WAITING"),
        key=lambda r: (r.sort_priority, r.order_key, r.entry_id),
    )
    calling = sorted(
        (r for r in rows if r.state == "CALLED"), key=lambda r: (r.called_at, r.entry_id)
    )
    ongoing = sorted(
        (r for r in rows if r.state == "ONGOING"), key=lambda r: (r.started_at, r.entry_id)
    )

    def entry(r: Any, position: int | None) -> dict[str, Any]:
        est = engine.estimator.estimate(info, position) if position is not None else None
        return {
            "visit_id": r.visit_id,
            "ticket_number": r.ticket_number,
            "masked_name": r.masked_name,
            "state": r.state,
            "priority": r.priority,
            "position": position,
            "estimated_wait_s": est.expected_s if est else None,
            "wait_low_s": est.low_s if est else None,
            "wait_high_s": est.high_s if est else None,
            "call_count": r.call_count,
            "desk": r.desk,
        }

    model = RoomQueueSnapshot.model_validate(
        {
            "schema_version": SCHEMA_VERSION,
            "room_id": room_id,
            "version": head.version,
            "service_day": day,
            "generated_at": engine.clock.now(),
            "open": info.open,
            "now_calling": [entry(r, None) for r in calling],
            "ongoing": [entry(r, None) for r in ongoing],
            "waiting": [entry(r, i) for i, r in enumerate(waiting, start=1)],
            "served_today": head.served or 0,
            "estimated_wait_s": engine.estimator.estimate(info, len(waiting) + 1).expected_s,
            "staff_on_duty": min(info.capacity, 100),
        }
    )
    return encode(model)


def random_queue(
    db: Database, rng: random.Random, clock: FakeClock, estimator: WaitEstimator
) -> Engine:
    """A room r1 with a random queue; every operation through the engine's own API."""
    engine = Engine(db, site_key=SITE_KEY, clock=clock, estimator=estimator)
    n = rng.randint(0, 60)
    ids = [f"v{i}" for i in range(n)]
    capacity = rng.randint(1, 4)
    data = small_hospital(
        {v: ["r1"] for v in ids},
        priorities={v: rng.choice([0, 3, 5, 5, 5, 9]) for v in ids},
        capacity=capacity,
    )
    engine.load(data)
    # Stored masked names as awkward as the model allows (it needs a `*`, or nothing).
    with db.write() as conn:
        for i in range(n):
            conn.execute(
                update(patients)
                .where(patients.c.registration_no == f"R{i + 1:05d}")
                .values(masked_name=rng.choice(NAMES))
            )
    feed = isinstance(estimator, RoomStatsEstimator)
    fed_through = 0

    def tick() -> None:
        nonlocal fed_through
        # whole seconds sometimes, so both time formats (with and without microseconds)
        # occur; at most 8 hours in all, so the service day does not turn
        seconds = rng.choice([1, 7, 60, 120])
        clock.advance(seconds=seconds, microseconds=rng.choice([0, 0, 1, 123456, 999999]))
        if feed:
            for record in engine.audit(after_id=fed_through, limit=1000):
                assert isinstance(estimator, RoomStatsEstimator)
                estimator.observe_audit(record)
                fed_through = record.audit_id

    for v in ids:
        engine.check_in(v, actor="nurse")
        tick()
    free = list(DESKS[:capacity])
    called: list[tuple[str, str]] = []
    ongoing: list[str] = []
    for _ in range(rng.randint(0, 3 * n + 1)):
        roll = rng.random()
        waiting = engine.room_snapshot("r1").waiting
        if roll < 0.35 and free and waiting:
            desk = free.pop(rng.randrange(len(free)))
            visit = engine.call_next("r1", actor="nurse", desk=desk).visit.visit_id
            assert visit == waiting[0].visit_id
            called.append((visit, desk))
        elif roll < 0.5 and called:
            visit, desk = called.pop(rng.randrange(len(called)))
            engine.miss(visit, actor="nurse")
            free.append(desk)
        elif roll < 0.7 and called:
            visit, desk = called.pop(rng.randrange(len(called)))
            engine.start(visit, actor="nurse")
            ongoing.append(visit)
            free.append(desk)
        elif roll < 0.85 and ongoing:
            engine.complete(ongoing.pop(rng.randrange(len(ongoing))), actor="nurse")
        tick()
    return engine


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("estimator_kind", ["room-stats", "simple"])
def test_snapshot_bytes_are_what_the_codec_writes_for_the_validated_model(
    central_db: Database,  # noqa: F811
    seed: int,
    estimator_kind: str,
) -> None:
    rng = random.Random(f"{seed}-{estimator_kind}")
    clock = FakeClock(START + timedelta(microseconds=rng.choice([0, 250000])))
    estimator: WaitEstimator = (
        RoomStatsEstimator(clock=clock) if estimator_kind == "room-stats" else SimpleEstimator()
    )
    engine = random_queue(central_db, rng, clock, estimator)
    for _ in range(3):
        # built now (the version cached while driving the queue was built at an older time)
        engine.cache.clear()
        data = engine.room_snapshot_json("r1")
        assert data == reference(engine, "r1")
        # and pydantic reads it back to the same bytes
        assert encode(decode(RoomQueueSnapshot, data)) == data
        # later, the same version rebuilt: the estimates and generated_at move on
        clock.advance(seconds=rng.randint(1, 900), microseconds=rng.randint(0, 999999))


def test_an_empty_room_and_a_closed_room(central_db: Database) -> None:  # noqa: F811
    clock = FakeClock(datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC))
    engine = Engine(central_db, site_key=SITE_KEY, clock=clock)
    engine.load(small_hospital({"v1": ["r2"]}))
    assert engine.room_snapshot_json("r1") == reference(engine, "r1")
    engine.set_room_open("r1", False, actor="nurse")
    data = engine.room_snapshot_json("r1")
    assert data == reference(engine, "r1")
    snap = decode(RoomQueueSnapshot, data)
    assert (snap.open, snap.waiting, snap.service_day) == (False, [], date(2026, 11, 27))


def test_strings_are_escaped_as_pydantic_escapes_them() -> None:
    """Every character below U+0100 and a sample of the rest, alone and in text, written as
    pydantic-core (the serialiser behind `model_dump_json`) writes them."""
    rng = random.Random(13)
    chars = [chr(c) for c in range(0x100)] + ["\u2028", "\u2029", "\ufeff", "\uffff", "😀", "가"]
    samples = chars + ["".join(rng.choices(chars, k=rng.randint(0, 40))) for _ in range(500)]
    for s in samples:
        assert reads._json_str(s).encode() == pydantic_core.to_json(s), repr(s)
    assert reads._json_str(None) == "null"


@pytest.mark.parametrize("microsecond", [0, 1, 120000, 123456, 999999])
def test_times_are_written_as_pydantic_writes_them(microsecond: int) -> None:
    at = datetime(2026, 11, 27, 9, 5, 7, microsecond, tzinfo=UTC)
    seoul = at.astimezone(ZoneInfo("Asia/Seoul"))
    for t in (at, seoul):
        assert f'"{reads._json_time(t)}"'.encode() == pydantic_core.to_json(at)
