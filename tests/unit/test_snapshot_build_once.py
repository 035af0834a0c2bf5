"""A room snapshot version is built once, however many threads ask for it at the same time,
and no reader gets a version older than the one it saw committed (issue #13)."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from central.bridge.publisher import SnapshotCache
from central.clock import FakeClock
from central.engine import Engine, RoomInfo, WaitEstimate, WaitEstimator
from central.store import Database
from central.store.schema import room_versions
from protocol.codec import decode, encode
from protocol.messages import RoomQueueSnapshot
from tests.support.central_db import START, make_engine, small_hospital, sqlite_template  # noqa: F401

READERS = 8
DEADLINE_S = 10.0


class Statements:
    """Counts the snapshot's head and rows queries; can hold the first rows query."""

    def __init__(self, engine: Engine) -> None:
        self.cond = threading.Condition()
        self.heads = 0
        self.rows = 0
        self.hold_first_rows: threading.Event | None = None
        self.wait_for_heads = 0
        self.rows_started = threading.Event()
        event.listen(engine.db.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The snapshot's two statements (reads.room_snapshot), not the writes' own reads.
        if "room_days.served" in statement:
            with self.cond:
                self.heads += 1
                self.cond.notify_all()
        elif statement.startswith("SELECT queue_entries.visit_id, queue_entries.ticket_number"):
            with self.cond:
                self.rows += 1
                first = self.rows == 1
                # The first builder waits (bounded) until every reader has looked at the
                # version, so the readers really do arrive while it is building.
                assert self.cond.wait_for(lambda: self.heads >= self.wait_for_heads, DEADLINE_S)
            if first:
                self.rows_started.set()
                if self.hold_first_rows is not None:
                    assert self.hold_first_rows.wait(DEADLINE_S)

    def reset(self) -> None:
        with self.cond:
            self.heads = self.rows = 0
        self.rows_started.clear()


@pytest.fixture
def engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:  # noqa: F811
    path = tmp_path / "central.db"
    shutil.copy(sqlite_template, path)
    db = Database(str(path))
    clock = FakeClock(START)
    eng = make_engine(db, clock)
    eng.load(small_hospital({f"v{i}": ["r1"] for i in range(40)}))
    for i in range(30):
        eng.check_in(f"v{i}", actor="nurse")
    eng.room_snapshot_json("r1")  # the day is rolled and this version cached
    try:
        yield eng
    finally:
        db.dispose()


def committed_version(engine: Engine, room_id: str) -> int:
    with engine.db.read() as conn:
        return int(
            conn.execute(
                select(room_versions.c.version).where(room_versions.c.room_id == room_id)
            ).scalar_one()
        )


def test_concurrent_readers_of_a_new_version_build_it_once(engine: Engine) -> None:
    stats = Statements(engine)
    engine.check_in("v30", actor="nurse")  # a new version nobody has built yet
    stats.reset()
    stats.wait_for_heads = READERS
    barrier = threading.Barrier(READERS)

    def read() -> bytes:
        barrier.wait(DEADLINE_S)
        return engine.room_snapshot_json("r1")

    with ThreadPoolExecutor(READERS) as pool:
        results = list(pool.map(lambda _i: read(), range(READERS)))
    assert stats.heads == READERS
    assert stats.rows == 1
    assert len(set(results)) == 1
    snap = decode(RoomQueueSnapshot, results[0])
    assert snap.version == committed_version(engine, "r1")
    assert len(snap.waiting) == 31


class CountingEstimator:
    """The engine's estimator, counting the places it was asked for."""

    def __init__(self, inner: WaitEstimator) -> None:
        self.inner = inner
        self.places = 0

    def estimate(self, room: RoomInfo, position: int) -> WaitEstimate:
        self.places += 1
        return self.inner.estimate(room, position)


def test_a_build_overtaken_by_a_reader_of_a_newer_version_stops_and_both_get_the_newer(
    engine: Engine,
) -> None:
    stats = Statements(engine)
    counting = CountingEstimator(engine.estimator)
    engine.estimator = counting
    engine.check_in("v30", actor="nurse")
    older = committed_version(engine, "r1")
    # A cold room (no line kept from an earlier version, as after a restart or an import):
    # the build reads every shown row, long enough to be worth stopping.
    engine.cache.clear()
    stats.reset()
    stats.hold_first_rows = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(engine.room_snapshot_json, "r1")
        assert stats.rows_started.wait(DEADLINE_S)  # building `older`, paused
        engine.check_in("v31", actor="nurse")  # committed while it builds
        newer = committed_version(engine, "r1")
        assert newer > older
        second = pool.submit(engine.room_snapshot_json, "r1")
        # the second reader saw `newer` and waits for it (the first holds the room's build)
        builds = engine.cache.builds("r1")
        deadline = time.monotonic() + DEADLINE_S
        while builds.newest_wanted < newer:
            assert time.monotonic() < deadline, "the second reader never asked for its version"
            time.sleep(0.001)
        stats.hold_first_rows.set()
        got_first = decode(RoomQueueSnapshot, first.result(DEADLINE_S))
        got_second = decode(RoomQueueSnapshot, second.result(DEADLINE_S))
    assert got_second.version == newer
    assert len(got_second.waiting) == 32
    # The first build (whose transaction cannot see `newer`) stopped at its first rows and
    # left the room to the second reader; its caller got the newer version (never older
    # than the one it saw). Both ran the rows query, only the newer build went on to the
    # estimates (32 places and one for a newcomer).
    assert got_first.version == newer
    assert stats.rows == 2
    assert counting.places == 33
    # The cache keeps the newer one: a later reader gets it without a build.
    assert decode(RoomQueueSnapshot, engine.room_snapshot_json("r1")).version == newer
    assert stats.rows == 2


def test_readers_never_get_a_version_older_than_the_committed_one(engine: Engine) -> None:
    errors: list[str] = []

    def reader() -> None:
        for _ in range(25):
            seen = committed_version(engine, "r1")
            got = decode(RoomQueueSnapshot, engine.room_snapshot_json("r1")).version
            if got < seen:
                errors.append(f"committed {seen}, got {got}")

    def writer() -> None:
        for i in range(30, 40):
            engine.check_in(f"v{i}", actor="nurse")

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(reader) for _ in range(4)] + [pool.submit(writer)]
        for f in futures:
            f.result(DEADLINE_S * 3)
    assert errors == []
    final = decode(RoomQueueSnapshot, engine.room_snapshot_json("r1"))
    assert final.version == committed_version(engine, "r1")


def test_snapshot_cache_serves_the_engines_bytes_as_the_model_would_encode(
    engine: Engine,
) -> None:
    stats = Statements(engine)
    engine.check_in("v30", actor="nurse")
    stats.reset()
    cache = SnapshotCache(engine)
    built, data = asyncio.run(cache.get("r1"))
    assert data is engine.room_snapshot_json("r1")  # the engine's bytes, not a copy
    assert stats.rows == 1
    # Same content as encoding the model (what was served before), decodable by clients.
    assert json.loads(data) == json.loads(encode(built.model))
    assert decode(RoomQueueSnapshot, data) == built.model
    assert cache.cached() == [("r1", data)]
    assert (built.room_id, built.version) == ("r1", committed_version(engine, "r1"))
