"""Issue #13 by design: call-next and queue reads cost the same at 10 and 1,000 waiting, the
hot query uses its index, and concurrent call-next never double-calls or skips."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, insert, select, text

from central.engine import Engine, Rejected, reads
from central.engine.reads import next_waiting_query
from central.store import Database
from central.store.schema import patients, queue_entries, visit_steps, visits
from protocol.journey import State
from tests.support.central_db import *  # noqa: F403
from tests.support.central_db import DAY, START, make_engine, pg_database, small_hospital

pytestmark = pytest.mark.integration


def fill(engine, room_id: str, n: int, prefix: str) -> list[str]:
    """Put n patients in room_id's waiting line directly (the setup, not what is measured)."""
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
                    "service_day": DAY,
                    "state": "WAITING",
                    "current_step": 0,
                    "priority": 5 if i % 10 else 3,
                    "step_free": False,
                    "created_at": START,
                    "updated_at": START,
                }
                for i, v in enumerate(ids)
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
                    "service_day": DAY,
                    "ticket_number": i + 1,
                    "state": "WAITING",
                    "priority": 5 if i % 10 else 3,
                    "sort_priority": 5 if i % 10 else 3,
                    "order_key": f"{1795700000000 + i:015d}.000000.st-a",
                    "arrival_key": f"{1795700000000 + i:015d}.000000.st-a",
                    "call_count": 0,
                    "checked_in_at": START,
                }
                for i, v in enumerate(ids)
            ],
        )
    return ids


@contextmanager
def count_statements(engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def hook(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine.db.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", hook)


def expected_first(ids: list[str]) -> str:
    # priority 3 for every tenth patient, then arrival order
    return ids[0]


def test_call_next_and_room_reads_cost_the_same_at_10_and_1000_waiting(engine):
    engine.load(small_hospital({}, rooms=("small", "big")))
    fill(engine, "small", 10, "s")
    fill(engine, "big", 1000, "b")
    engine.room_snapshot("small")  # warm: roll the day, compile statements
    engine.room_snapshot("big")
    counts = {}
    for room in ("small", "big"):
        with count_statements(engine) as call_sql:
            r = engine.call_next(room, actor="n")
        assert r.visit.ticket_number == 1
        with count_statements(engine) as read_sql:
            snap = engine.room_snapshot(room)
        with count_statements(engine) as cached_sql:
            assert engine.room_snapshot(room) is snap
        counts[room] = (len(call_sql), len(read_sql), len(cached_sql))
        assert len(snap.waiting) == (9 if room == "small" else 999)
    assert counts["small"] == counts["big"], counts
    call_n, read_n, cached_n = counts["big"]
    print("statements (call-next, read, cached read):", counts)
    assert call_n <= 10, counts
    assert read_n <= 3, counts
    assert cached_n <= 2, counts


def test_missed_call_does_not_rewrite_the_waiting_line(engine):
    engine.load(small_hospital({}, rooms=("big",)))
    fill(engine, "big", 1000, "b")
    engine.call_next("big", actor="n")
    updates: list[str] = []
    with count_statements(engine) as sql:
        engine.miss("b00000", actor="n")
    updates = [s for s in sql if s.lstrip().upper().startswith("UPDATE QUEUE_ENTRIES")]
    assert len(updates) == 1
    assert len(sql) <= 12


@pytest.fixture
def sqlite_engine(sqlite_template, tmp_path, clock) -> Iterator[Engine]:
    shutil.copy(sqlite_template, tmp_path / "c.db")
    engine = make_engine(Database(str(tmp_path / "c.db")), clock)
    yield engine
    engine.close()


@pytest.fixture
def pg_engine(postgres_db, clock) -> Iterator[Engine]:
    engine = make_engine(pg_database(postgres_db), clock)
    yield engine
    engine.close()


def literal_sql(engine, stmt) -> str:
    return str(stmt.compile(engine.db.engine, compile_kwargs={"literal_binds": True}))


def sqlite_plan(engine, stmt) -> str:
    with engine.db.read() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {literal_sql(engine, stmt)}")
        return " | ".join(str(r[-1]) for r in rows)


def postgres_plan(engine, stmt) -> str:
    """EXPLAIN after ANALYZE, so the planner knows the table's real size."""
    with engine.db.write() as conn:
        conn.execute(text("ANALYZE queue_entries"))
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {literal_sql(engine, stmt)}"))


def test_sqlite_call_next_query_uses_the_queue_index(sqlite_engine):
    engine = sqlite_engine
    engine.load(small_hospital({}, rooms=("big",)))
    fill(engine, "big", 200, "b")
    plan = sqlite_plan(engine, next_waiting_query("big", DAY))
    assert "ix_queue_next" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.postgres
def test_postgres_call_next_query_uses_the_queue_index(pg_engine):
    engine = pg_engine
    engine.load(small_hospital({}, rooms=("big", "other")))
    fill(engine, "big", 1000, "b")
    fill(engine, "other", 1000, "o")
    plan = postgres_plan(engine, next_waiting_query("big", DAY))
    assert "ix_queue_next" in plan, plan
    assert "Sort" not in plan, plan


def changed_since(room_id: str, since: int):
    return reads._CHANGED.params(b_room=room_id, b_day=DAY, b_since=since)


def test_sqlite_snapshot_update_reads_the_written_rows_by_index(sqlite_engine):
    """A new snapshot version reads the rows written since the kept one through
    `ix_queue_delta` (room, day, room_version): a range of a few rows, not the line."""
    engine = sqlite_engine
    engine.load(small_hospital({}, rooms=("big", "other")))
    fill(engine, "big", 500, "b")
    fill(engine, "other", 500, "o")
    plan = sqlite_plan(engine, changed_since("big", 3))
    assert "ix_queue_delta (room_id=? AND service_day=? AND room_version>?)" in plan, plan
    assert "SCAN queue_entries" not in plan, plan


@pytest.mark.postgres
def test_postgres_snapshot_update_reads_the_written_rows_by_index(pg_engine):
    engine = pg_engine
    engine.load(small_hospital({}, rooms=("big", "other")))
    fill(engine, "big", 1000, "b")
    fill(engine, "other", 1000, "o")
    with engine.db.read() as conn:
        version = conn.execute(
            text("SELECT max(room_version) FROM queue_entries WHERE room_id = 'big'")
        ).scalar_one()
    plan = postgres_plan(engine, changed_since("big", version))
    assert "ix_queue_delta" in plan, plan
    assert "Seq Scan on queue_entries" not in plan, plan


@pytest.mark.parametrize("threads", [6])
def test_concurrent_call_next_never_double_calls_or_skips(engine, threads):
    engine.load(small_hospital({}, rooms=("big",), capacity=threads))
    ids = fill(engine, "big", 50, "b")
    barrier = threading.Barrier(threads)
    called: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def nurse(desk: str) -> None:
        barrier.wait()
        try:
            for _ in range(3):
                v = engine.call_next("big", actor=f"nurse-{desk}", desk=desk).visit
                engine.start(v.visit_id, actor=f"nurse-{desk}")
                with lock:
                    called.append(v.visit_id)
        except BaseException as e:  # surfaced below
            errors.append(e)

    workers = [threading.Thread(target=nurse, args=(f"d{i}",)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors, errors
    # exactly the first 3×threads patients in call order, each once
    order = sorted(ids, key=lambda v: (0 if int(v[1:]) % 10 == 0 else 1, v))
    assert sorted(called) == sorted(order[: 3 * threads])
    assert len(set(called)) == len(called)


def test_concurrent_call_next_at_one_desk_calls_one_patient(engine):
    engine.load(small_hospital({}, rooms=("big",)))
    fill(engine, "big", 20, "b")
    barrier = threading.Barrier(5)
    results: list[object] = []

    def nurse() -> None:
        barrier.wait()
        try:
            results.append(engine.call_next("big", actor="n", desk="A").visit.visit_id)
        except Rejected as e:
            results.append(e.reason)

    workers = [threading.Thread(target=nurse) for _ in range(5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert sorted(results, key=str) == sorted(["b00000"] + ["desk_busy"] * 4, key=str)
    assert [e.visit_id for e in engine.room_snapshot("big").now_calling] == ["b00000"]


def test_stations_and_nurses_at_once_keep_every_invariant(engine):
    """Two stations' batches and two nurses' calls, completions and transfers at the same
    time, across rooms (next steps lock two rooms): no error, no lost check-in, no double call,
    ticket numbers unique per room."""
    from tests.support.central_db import batch, check_in

    visits = {f"v{i}": ["r1", "r2"] if i % 2 else ["r2", "r3"] for i in range(1, 41)}
    engine.load(small_hospital(visits, capacity=10))
    errors: list[BaseException] = []
    called: list[str] = []
    refusals: set[str] = set()
    lock = threading.Lock()
    start = threading.Barrier(4)

    def station(name: str, first: int) -> None:
        start.wait()
        try:
            for seq, i in enumerate(range(first, 41, 2), start=1):
                room = visits[f"v{i}"][0]
                res = engine.apply_batch(
                    batch(name, check_in(seq, f"v{i}", i, room, at_ms=i, node=name))
                )
                assert res.ack.rejects == [], res.ack.rejects
        except BaseException as e:
            errors.append(e)

    def nurse(desk: str) -> None:
        start.wait()
        try:
            for _ in range(15):
                for room in ("r1", "r2", "r3"):
                    try:
                        v = engine.call_next(room, actor=desk, desk=desk).visit
                    except Rejected as e:
                        refusals.add(e.reason)
                        continue
                    with lock:
                        called.append(f"{room}:{v.visit_id}")
                    engine.start(v.visit_id, actor=desk)
                    engine.complete(v.visit_id, actor=desk)
        except BaseException as e:
            errors.append(e)

    workers = [
        threading.Thread(target=station, args=("st-a", 1)),
        threading.Thread(target=station, args=("st-b", 2)),
        threading.Thread(target=nurse, args=("n1",)),
        threading.Thread(target=nurse, args=("n2",)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors
    assert refusals <= {"queue_empty"}
    assert len(called) == len(set(called))  # nobody called twice in one room
    with engine.db.read() as conn:
        rows = conn.execute(
            select(queue_entries.c.room_id, queue_entries.c.ticket_number, queue_entries.c.visit_id)
        ).all()
    per_room = [(r.room_id, r.ticket_number) for r in rows]
    assert len(per_room) == len(set(per_room))
    # every visit was checked in (first step) and, if completed, queued for its next step
    first_rooms = {(r.visit_id, r.room_id) for r in rows}
    assert all((v, steps[0]) in first_rooms for v, steps in visits.items())
    for v in visits:
        state = engine.visit(v).state
        assert state in (State.WAITING, State.PAYMENT, State.ONGOING), (v, state)
