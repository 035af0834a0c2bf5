"""`nfc-hospital bench engine-ops`: the queue engine alone (no HTTP, no MQTT).

Measures, on SQLite and (when a server answers) PostgreSQL:
- station check-ins applied per second through `Engine.apply_batch` (batches of 50);
- call-next and a full room-queue rebuild, p50/p99 and SQL statements per operation, with 10
  and with 1,000 patients waiting (issue #13: the cost must not grow with the queue).

    nfc-hospital bench engine-ops [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from central.clock import FakeClock
from central.engine import Engine
from central.engine.loader import DepartmentIn, HospitalData, RoomIn
from central.seed import sample_hospital
from central.store import Database
from central.store.schema import patients, queue_entries, visit_steps, visits
from protocol.base import LocalizedText
from protocol.ids import card_hash
from protocol.messages import CheckInEvent, EventBatch

KEY = b"bench-site-key-0123456789abcdef!"
START = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


class _Counter:
    def __init__(self, db: Database) -> None:
        self.n = 0
        event.listen(db.engine, "before_cursor_execute", self._hook)

    def _hook(self, *_args: Any) -> None:
        self.n += 1


def _fill(engine: Engine, room_id: str, n: int, prefix: str) -> None:
    day = engine.service_day()
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    with engine.db.write() as conn:
        conn.execute(
            insert(patients),
            [
                {
                    "patient_id": f"p{v}",
                    "registration_no": f"R{v}",
                    "name": "김민수",
                    "masked_name": "김*수",
                    "created_at": START,
                }
                for v in ids
            ],
        )
        conn.execute(
            insert(visits),
            [
                {
                    "visit_id": v,
                    "patient_id": f"p{v}",
                    "service_day": day,
                    "state": "WAITING",
                    "current_step": 0,
                    "priority": 5,
                    "step_free": False,
                    "created_at": START,
                    "updated_at": START,
                }
                for v in ids
            ],
        )
        conn.execute(
            insert(visit_steps),
            [
                {
                    "visit_id": v,
                    "step_index": 0,
                    "room_id": room_id,
                    "planned_room_id": room_id,
                    "label": {"ko": "진료", "en": "Consultation"},
                    "kind": "consultation",
                    "done": False,
                }
                for v in ids
            ],
        )
        conn.execute(
            insert(queue_entries),
            [
                {
                    "visit_id": v,
                    "step_index": 0,
                    "room_id": room_id,
                    "service_day": day,
                    "ticket_number": i + 1,
                    "state": "WAITING",
                    "priority": 5,
                    "sort_priority": 5,
                    "order_key": f"{1795700000000 + i:015d}.000000.st-a",
                    "arrival_key": f"{1795700000000 + i:015d}.000000.st-a",
                    "call_count": 0,
                    "checked_in_at": START,
                }
                for i, v in enumerate(ids)
            ],
        )


def _queue_ops(make_db: Callable[[], Database], label: str, calls: int) -> None:
    for waiting in (10, 1000):
        db = make_db()
        db.migrate()
        engine = Engine(db, site_key=KEY, clock=FakeClock(START))
        room = LocalizedText(ko="진료실", en="Room")
        engine.load(
            HospitalData(
                departments=[DepartmentIn(department_id="d", name=room)],
                rooms=[
                    RoomIn(
                        room_id="r",
                        department_id="d",
                        name=room,
                        kind="consultation",
                        floor_label="1F",
                        avg_service_s=300,
                        capacity=100,
                    )
                ],
            )
        )
        # keep `waiting` patients waiting however many are called: refill beyond the calls
        _fill(engine, "r", waiting + calls, "w")
        engine.room_snapshot("r")
        counter = _Counter(db)
        call_t: list[float] = []
        read_t: list[float] = []
        call_sql: list[int] = []
        read_sql: list[int] = []
        for i in range(calls):
            before = counter.n
            t = time.perf_counter()
            v = engine.call_next("r", actor="bench", desk=f"d{i % 100}").visit
            call_t.append(time.perf_counter() - t)
            call_sql.append(counter.n - before)
            engine.start(v.visit_id, actor="bench")
            engine.complete(v.visit_id, actor="bench")
            before = counter.n
            t = time.perf_counter()
            engine.room_snapshot_json("r")  # a new version: a full rebuild
            read_t.append(time.perf_counter() - t)
            read_sql.append(counter.n - before)
        print(
            f"{label:10s} waiting={waiting:5d}  call-next p50={_pct(call_t, 0.5):6.2f} ms "
            f"p99={_pct(call_t, 0.99):6.2f} ms stmts={statistics.median(call_sql):.0f}   "
            f"queue read p50={_pct(read_t, 0.5):6.2f} ms p99={_pct(read_t, 0.99):6.2f} ms "
            f"stmts={statistics.median(read_sql):.0f}"
        )
        engine.close()


def _ingest(make_db: Callable[[], Database], label: str, patients_n: int) -> None:
    db = make_db()
    db.migrate()
    clock = FakeClock(START)
    engine = Engine(db, site_key=KEY, clock=clock)
    day = engine.service_day()
    sample = sample_hospital(day, patients=patients_n)
    engine.load(sample.data)
    base = int(START.timestamp() * 1000)
    events = [
        CheckInEvent(
            kind="check_in",
            event_id=uuid.uuid4(),
            station_seq=i + 1,
            hlc=f"{base + i:015d}.000000.st-lobby",
            wall_time=START,
            card_hash=card_hash(KEY, sample.visit_cards[v.derived_id()]),
            visit_id=v.derived_id(),
            room_id=v.steps[0].room_id,
            step_index=0,
            service_day=day,
            ticket_number=None,
        )
        for i, v in enumerate(sample.data.visits)
    ]
    t = time.perf_counter()
    for i in range(0, len(events), 50):
        res = engine.apply_batch(
            EventBatch(station_id="st-lobby", sent_at=START, events=events[i : i + 50])
        )
        assert not res.ack.rejects, res.ack.rejects[:1]
    dt = time.perf_counter() - t
    print(f"{label:10s} check-in events applied: {len(events) / dt:7.0f}/s ({len(events)} events)")
    engine.close()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nfc-hospital bench engine-ops", description=__doc__)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("NFCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server URL (a temporary database is created and dropped)",
    )
    parser.add_argument("--calls", type=int, default=500, help="call-next operations per run")
    parser.add_argument("--events", type=int, default=4000, help="check-in events to apply")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nfch-bench-") as tmp:
        n = [0]

        def sqlite_db() -> Database:
            n[0] += 1
            return Database(str(Path(tmp) / f"b{n[0]}.db"))

        _ingest(sqlite_db, "sqlite", args.events)
        _queue_ops(sqlite_db, "sqlite", args.calls)

    try:
        import psycopg

        with psycopg.connect(args.pg_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as e:
        print(f"postgresql: skipped ({e})")
        return 0
    created: list[str] = []

    def pg_db() -> Database:
        name = f"nfch_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return Database(args.pg_url.rsplit("/", 1)[0] + "/" + name)

    try:
        _ingest(pg_db, "postgresql", args.events)
        _queue_ops(pg_db, "postgresql", args.calls)
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0
