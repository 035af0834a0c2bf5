"""Writes held back and sent in one pipeline on PostgreSQL (`central.store.db.defer`), pings
only for idle connections, and a write retried when its connection turns out dead.

Round trips are counted from libpq's own protocol trace of the connection: one
ReadyForQuery message from the server ends each round trip.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psycopg
import pytest
from psycopg import pq
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from central.engine import Engine, Rejected
from central.store import db as store_db
from central.store.db import defer, send_deferred
from central.store.schema import departments, room_versions, rooms
from tests.support.central_db import *  # noqa: F403
from tests.support.central_db import make_engine, pg_database, small_hospital

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_engine(postgres_db, clock) -> Iterator[Engine]:
    engine = make_engine(pg_database(postgres_db), clock)
    yield engine
    engine.close()


@contextmanager
def round_trips(engine: Engine) -> Iterator[list[int]]:
    """Count the server's ReadyForQuery messages on every connection checked out meanwhile
    (libpq's trace of the wire protocol)."""
    counted: list[int] = []
    traces: list[tuple[pq.abc.PGconn, Path, IO[str]]] = []
    folder = Path(tempfile.mkdtemp(prefix="nfch-trace-"))

    def checkout(dbapi_conn, _record, _proxy) -> None:
        path = folder / f"{len(traces)}.trace"
        f = path.open("w")
        dbapi_conn.pgconn.trace(f.fileno())
        dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        traces.append((dbapi_conn.pgconn, path, f))

    event.listen(engine.db.engine, "checkout", checkout)
    try:
        yield counted
    finally:
        event.remove(engine.db.engine, "checkout", checkout)
        for pgconn, _path, f in traces:
            pgconn.untrace()  # flushes libpq's trace into the file, still open
            f.close()
        for _pgconn, path, _f in traces:
            lines = path.read_text().splitlines()
            counted.append(sum(1 for line in lines if "\tReadyForQuery\t" in line))


def waiting_room(engine: Engine, n: int) -> list[str]:
    ids = [f"v{i}" for i in range(1, n + 1)]
    engine.load(small_hospital({v: ["r1"] for v in ids}))
    for v in ids:
        engine.check_in(v, actor="setup")
    engine.room_snapshot("r1")  # roll the day, warm the statements
    return ids


@pytest.mark.postgres
def test_call_next_on_postgres_is_four_round_trips(pg_engine):
    ids = waiting_room(pg_engine, 8)
    # psycopg prepares a statement on its 5th use (one round trip more, that once): measure
    # a call once every statement of it is prepared, as on a server that has run a while.
    for desk in "123456":
        pg_engine.call_next("r1", actor="nurse", desk=desk)
    with round_trips(pg_engine) as trips:
        called = pg_engine.call_next("r1", actor="nurse", desk="7")
    assert called.visit.visit_id == ids[6]
    # BEGIN, lock the room, the next visit (with the desk's called ticket), then the
    # entry and visit updates, the audit row, both version bumps and COMMIT in one pipeline
    # (it was 12: a ping, and one round trip for each of those).
    assert trips == [4], trips
    again = pg_engine.room_snapshot("r1")
    assert [e.visit_id for e in again.now_calling] == ids[:7]
    assert [e.visit_id for e in again.waiting] == ids[7:]
    assert pg_engine.audit(visit_id=ids[6])[-1].action == "call"


@pytest.mark.postgres
def test_a_busy_desk_is_refused_before_an_empty_queue(pg_engine):
    waiting_room(pg_engine, 1)
    pg_engine.call_next("r1", actor="nurse")
    with pytest.raises(Rejected) as busy:
        pg_engine.call_next("r1", actor="nurse")  # the desk's patient is still called
    assert busy.value.reason == "desk_busy"
    with pytest.raises(Rejected) as empty:
        pg_engine.call_next("r1", actor="nurse", desk="2")
    assert empty.value.reason == "queue_empty"


def test_a_held_back_write_is_seen_by_the_next_statement_in_order(engine):
    engine.load(small_hospital({}))
    bump = update(room_versions).where(room_versions.c.room_id == "r1")
    with engine.db.write() as conn:
        defer(conn, bump.values(version=40), None)
        defer(conn, bump.values(version=room_versions.c.version + 2), None)
        seen = conn.execute(
            select(room_versions.c.version).where(room_versions.c.room_id == "r1")
        ).scalar()
        defer(conn, bump.values(version=room_versions.c.version + 1), None)
    assert seen == 42
    with engine.db.read() as conn:
        stored = conn.execute(
            select(room_versions.c.version).where(room_versions.c.room_id == "r1")
        ).scalar()
    assert stored == 43


def room_row(engine: Engine, room_id: str) -> dict[str, object]:
    with engine.db.read() as conn:
        department = conn.execute(select(departments.c.department_id)).scalar()
    return {
        "room_id": room_id,
        "department_id": department,
        "name": {"ko": "진료실", "en": "Room"},
        "kind": "consultation",
        "floor_label": "1F",
        "avg_service_s": 300,
        "capacity": 1,
        "open": True,
    }


def test_a_held_back_write_broken_inside_a_savepoint_fails_inside_it(engine):
    """`send_deferred` before a savepoint ends: the constraint error is that savepoint's,
    and the rest of the transaction commits (a station batch's careful retry)."""
    engine.load(small_hospital({}))
    bump = update(room_versions).values(version=room_versions.c.version + 100)
    with engine.db.write() as conn:
        defer(conn, bump.where(room_versions.c.room_id == "r1"), None)
        savepoint = conn.begin_nested()
        try:
            defer(conn, insert(rooms).inline(), [room_row(engine, "r2")])  # r2 exists
            send_deferred(conn)
        except IntegrityError:
            savepoint.rollback()
        else:
            pytest.fail("the duplicate room went in")
        defer(conn, bump.where(room_versions.c.room_id == "r3"), None)
    with engine.db.read() as conn:
        versions = {r.room_id: r.version for r in conn.execute(select(room_versions))}
    assert versions["r1"] > 100
    assert versions["r2"] < 100
    assert versions["r3"] > 100


def test_a_held_back_write_that_breaks_a_constraint_rolls_back_everything(engine):
    engine.load(small_hospital({}))
    row = room_row(engine, "r9")

    def write_the_room_twice() -> None:
        with engine.db.write() as conn:
            conn.execute(insert(rooms), [row])  # sent now
            defer(conn, update(room_versions).values(version=7), None)
            defer(conn, insert(rooms).inline(), [row])  # the same key again

    with pytest.raises(IntegrityError):
        write_the_room_twice()
    with engine.db.read() as conn:
        assert conn.execute(select(rooms.c.room_id).where(rooms.c.room_id == "r9")).all() == []
        assert 7 not in conn.execute(select(room_versions.c.version)).scalars().all()


def _terminate(engine: Engine, pids: list[int]) -> None:
    url = engine.db.engine.url.set(drivername="postgresql", query={})
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.postgres
def test_a_write_whose_connection_died_is_retried_on_a_new_one(pg_engine, caplog):
    ids = waiting_room(pg_engine, 2)
    pids: list[int] = []
    with pg_engine.db.engine.connect() as conn:
        pids.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    _terminate(pg_engine, pids)  # the server restarted, say: the pooled connection is dead
    with caplog.at_level(logging.WARNING, logger="central.store.db"):
        called = pg_engine.call_next("r1", actor="nurse")
    assert called.visit.visit_id == ids[0]
    assert "db_retry connection_lost" in caplog.text
    snap = pg_engine.room_snapshot("r1")
    assert [e.visit_id for e in snap.now_calling] == [ids[0]]
    assert [e.visit_id for e in snap.waiting] == [ids[1]]


@pytest.mark.postgres
def test_an_idle_connection_is_pinged_before_a_read(pg_engine, monkeypatch):
    waiting_room(pg_engine, 1)
    pids: list[int] = []
    with pg_engine.db.engine.connect() as conn:
        pids.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    _terminate(pg_engine, pids)
    monkeypatch.setattr(store_db, "PING_AFTER_IDLE_S", 0.0)
    assert [e.visit_id for e in pg_engine.room_snapshot("r1").waiting] == ["v1"]
