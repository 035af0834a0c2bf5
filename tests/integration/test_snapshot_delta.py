"""A room's snapshot kept between versions and updated from the rows written since is, byte
for byte, the snapshot read afresh from every row (issue #13), on SQLite and PostgreSQL.

Random staff operations and station batches on two rooms; after each one, every room's
snapshot from the engine (its kept line, updated from `queue_entries.room_version`) is
compared with one built by a cache that has never seen the room (every shown row read).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import pytest

from central.engine import Engine, Rejected, reads
from central.engine.reads import RoomLine
from central.store import Database
from tests.support.central_db import (  # noqa: F401
    batch,
    central_db,
    check_in,
    clock,
    engine,
    make_engine,
    small_hospital,
    sqlite_template,
)

pytestmark = pytest.mark.integration

ROOMS = ("r1", "r2")


def fresh(eng: Engine, room_id: str) -> bytes:
    """The room's snapshot read from every row, by a cache that never saw it (its
    `generated_at` left out: an unchanged room's cached snapshot keeps its own)."""
    day = eng.service_day()
    with eng.db.read() as conn:
        built = reads.room_snapshot(
            conn, room_id, day, reads.SnapshotCache(), eng.estimator, eng.clock.now()
        )
    return undated(built.data)


def undated(data: bytes) -> bytes:
    return re.sub(rb'"generated_at":"[^"]*"', b"", data)


class Applied:
    """Counts the rows each kept line was updated from."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows: list[int] = []
        original = RoomLine.apply

        def counting(line: RoomLine, rows: Any) -> None:
            listed = list(rows)
            self.rows.append(len(listed))
            original(line, listed)

        monkeypatch.setattr(RoomLine, "apply", counting)


def test_a_kept_line_matches_a_fresh_read_after_random_operations(
    central_db: Database,  # noqa: F811
    clock: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20261128)
    n = 60
    eng = make_engine(central_db, clock, missed_requeue_after=2, no_show_after_calls=3)
    visits = {f"v{i}": [rng.choice(ROOMS), rng.choice(ROOMS)] for i in range(1, n + 1)}
    eng.load(
        small_hospital(
            visits, priorities={f"v{i}": rng.choice([1, 3, 5]) for i in range(1, n + 1, 7)}
        )
    )
    applied = Applied(monkeypatch)
    for room_id in ROOMS:  # the first read of each room reads every row
        assert undated(eng.room_snapshot_json(room_id)) == fresh(eng, room_id)
    seq = 0
    ops: Counter[str] = Counter()
    called: list[str] = []
    started: list[str] = []
    held: list[str] = []
    for step in range(600):
        clock.advance(seconds=rng.randint(1, 90))
        vid = f"v{rng.randint(1, n)}"
        what = rng.choice(
            [
                "check_in",
                "station",
                "call_next",
                "call",
                "recall",
                "miss",
                "start",
                "complete",
                "transfer",
                "hold",
                "release",
                "cancel",
                "no_show",
            ]
        )
        # Mostly a patient the operation fits (the one called, started or held last).
        fits = {"start": called, "recall": called, "miss": called, "complete": started}
        if what in fits and fits[what] and rng.random() < 0.8:
            vid = fits[what][-1]
        elif what == "release" and held:
            vid = held.pop()
        try:
            if what == "check_in":
                eng.check_in(vid, actor="nurse")
            elif what == "station":
                seq += 1
                v = eng.visit(vid)
                room = v.steps[v.current_step].room_id if v.steps else ROOMS[0]
                eng.apply_batch(
                    batch(
                        "st-a",
                        check_in(
                            seq,
                            vid,
                            int(vid[1:]),
                            room,
                            at_ms=step * 1000,
                            step_index=v.current_step,
                        ),
                    )
                )
            elif what == "call_next":
                last = eng.call_next(rng.choice(ROOMS), actor="nurse", desk=f"d{rng.randint(1, 3)}")
            elif what == "call":
                eng.call(vid, actor="nurse", desk=f"d{rng.randint(4, 9)}")
            elif what == "transfer":
                eng.transfer(vid, rng.choice(ROOMS), actor="nurse")
            else:
                getattr(eng, what)(vid, actor="nurse")
            ops[what] += 1
            if what == "call":
                called.append(vid)
            elif what == "call_next":
                called.append(last.visit.visit_id)
            elif what == "start":
                started.append(vid)
            elif what == "hold":
                held.append(vid)
        except Rejected:
            continue
        for room_id in ROOMS:
            kept = undated(eng.room_snapshot_json(room_id))
            assert kept == fresh(eng, room_id), f"after {what} {vid} (step {step}), {room_id}"
    # The lines really moved, every way a queue changes.
    assert sum(ops.values()) > 120, ops
    assert all(
        ops[k]
        for k in (
            "check_in",
            "station",
            "call_next",
            "call",
            "miss",
            "start",
            "complete",
            "transfer",
            "hold",
            "release",
            "cancel",
        )
    ), ops
    # Kept lines were updated from the written rows only: a few per operation.
    assert applied.rows
    assert max(applied.rows) <= 4, applied.rows


def queued(eng: Engine, n: int) -> None:
    """`n` patients waiting in r1, its snapshot built (the line kept)."""
    eng.load(small_hospital({f"v{i}": ["r1"] for i in range(1, n + 1)}))
    for i in range(1, n + 1):
        eng.check_in(f"v{i}", actor="nurse")
    eng.room_snapshot_json("r1")


def test_a_call_in_a_long_line_reads_only_the_rows_it_wrote(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued(engine, 200)
    applied = Applied(monkeypatch)
    engine.call_next("r1", actor="nurse")
    snap = engine.room_snapshot("r1")
    assert applied.rows == [1]  # the called entry, not the 199 still waiting
    assert [e.position for e in snap.waiting] == list(range(1, 200))
    assert [e.ticket_number for e in snap.now_calling] == [1]
    assert undated(engine.room_snapshot_json("r1")) == fresh(engine, "r1")


def test_an_import_makes_the_next_snapshot_read_every_row(
    engine: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued(engine, 5)
    applied = Applied(monkeypatch)
    engine.load(small_hospital({f"v{i}": ["r1"] for i in range(1, 8)}))  # may rename patients
    engine.check_in("v6", actor="nurse")
    assert undated(engine.room_snapshot_json("r1")) == fresh(engine, "r1")
    assert applied.rows == []  # read whole, not updated from a line kept across the import
