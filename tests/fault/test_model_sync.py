"""Model-based test of the sync logic (issue #10): a hypothesis state machine drives the
station's core (`edge.station.Station` on a temp SQLite store, with an injected wall clock)
and central's engine in-process (SQLite), over an in-memory transport the rules control.

Rules: tap, send a batch (any contiguous window of the unacked outbox), deliver any batch in
flight (so reordering), duplicate one, drop one, deliver or drop an ack, deliver central's
snapshots (fresh and stale ones), restart the station (reopen its store), partition and heal.

Invariants, against a reference model (the list of seqs that got feedback):
- the station's acked_through never decreases, also across restarts, and never passes what
  central committed contiguously;
- central holds each (station, seq) at most once, and with the event_id the station wrote;
- no room has two equal ticket numbers for a day;
- a station's cached snapshot version of a room never goes back;
- after heal + drain, every tap that got feedback is at central exactly once.

The sample hospital is seeded once into a template database; every example gets a fresh copy
of it (SQLite's backup API), so no example sees another's state and hypothesis can replay an
example exactly. Thousands of steps run in seconds.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from central.app import open_engine
from central.config import CentralConfig, DatabaseSettings
from edge.readers.base import CardRead
from edge.station import Station
from edge.store.db import StationStore
from edge.sync.link import build_batch
from protocol.codec import decode, encode
from protocol.messages import Ack, EventBatch, RoomQueueSnapshot
from tests.support.central_harness import central_config, seeded_engine

pytestmark = pytest.mark.fault

_station_ids = itertools.count(1)


class SyncMachine(RuleBasedStateMachine):
    """One station and central, with the network in between as two lists."""

    template: Path
    config: CentralConfig
    cards: list[str]
    tmp: Path

    @initialize()
    def setup(self) -> None:
        self.sid = f"st-model-{next(_station_ids)}"
        self.path = self.tmp / f"{self.sid}.sqlite3"
        central_db = self.tmp / f"central-{self.sid}.db"
        with sqlite3.connect(self.template) as src, sqlite3.connect(central_db) as dst:
            src.backup(dst)
        self.engine = open_engine(
            self.config.model_copy(
                update={"database": DatabaseSettings(url=f"sqlite:///{central_db}")}
            )
        )
        self.clock = [time.time()]
        self.station = self._open()
        self._feed_directory()
        self.to_central: list[bytes] = []
        self.to_station: list[Ack] = []
        self.old_snapshots: list[RoomQueueSnapshot] = []
        self.partitioned = False
        self.fed_back: list[int] = []  # seqs of events written by taps that got feedback
        self.acked_high = 0
        self.snapshot_high: dict[str, int] = {}

    # --- helpers ------------------------------------------------------------------------

    def _open(self) -> Station:
        return Station(
            self.sid,
            StationStore(self.path),
            self.engine.site_key,
            wall=lambda: self.clock[0],
        )

    def _feed_directory(self) -> None:
        e = self.engine
        for doc in (
            e.directory_rooms(),
            e.directory_config("https://h.example/p"),
            e.directory_cards(),
        ):
            self.station.apply_directory(doc, encode(doc).decode())

    def _central_rows(self) -> list[tuple[int, str | None]]:
        with self.engine.db.read() as conn:
            return [
                (int(r[0]), r[1])
                for r in conn.execute(
                    text(
                        "SELECT station_seq, event_id FROM events WHERE station_id = :s "
                        "ORDER BY station_seq"
                    ),
                    {"s": self.sid},
                )
            ]

    def _apply(self, payload: bytes) -> None:
        result = self.engine.apply_batch(decode(EventBatch, payload))
        self.to_station.append(result.ack)
        if self.sid in result.changes.leases:
            lease, _ = self.engine.lease(self.sid)
            self.station.apply_lease(lease)

    # --- rules --------------------------------------------------------------------------

    @rule(card=st.integers(min_value=0, max_value=200))
    def tap(self, card: int) -> None:
        self.clock[0] += 0.5
        uid = self.cards[card % len(self.cards)] if card < 190 else f"04EE{card:010X}"
        before = self.station.next_seq
        screen = self.station.handle_read(CardRead(uid, "sim", "simulated", time.monotonic()))
        assert screen.kind != "refused"
        written = range(before, self.station.next_seq)
        assert len(written) >= 1
        self.fed_back.extend(written)

    @rule(skip=st.integers(0, 5), size=st.integers(1, 8))
    def send(self, skip: int, size: int) -> None:
        rows = self.station.store.unacked(self.station.acked_through, 64)[skip : skip + size]
        if rows:
            payload = build_batch(self.sid, datetime.now(UTC).isoformat(), rows)
            self.to_central.append(payload)

    @precondition(lambda self: self.to_central and not self.partitioned)
    @rule(i=st.integers(0, 1000))
    def deliver_batch(self, i: int) -> None:
        self._apply(self.to_central.pop(i % len(self.to_central)))

    @precondition(lambda self: self.to_central)
    @rule(i=st.integers(0, 1000))
    def duplicate_batch(self, i: int) -> None:
        self.to_central.append(self.to_central[i % len(self.to_central)])

    @precondition(lambda self: self.to_central)
    @rule(i=st.integers(0, 1000))
    def drop_batch(self, i: int) -> None:
        self.to_central.pop(i % len(self.to_central))

    @precondition(lambda self: self.to_station and not self.partitioned)
    @rule(i=st.integers(0, 1000))
    def deliver_ack(self, i: int) -> None:
        self.station.apply_ack(self.to_station.pop(i % len(self.to_station)))

    @precondition(lambda self: self.to_station)
    @rule(i=st.integers(0, 1000))
    def drop_ack(self, i: int) -> None:
        self.to_station.pop(i % len(self.to_station))

    @precondition(lambda self: not self.partitioned)
    @rule(stale=st.booleans())
    def deliver_snapshots(self, stale: bool) -> None:
        if stale and self.old_snapshots:
            # A retained message from before: it must never take the station back.
            for snap in self.old_snapshots:
                self.station.apply_snapshot(snap, snap.model_dump_json())
            return
        for room_id in self.engine.room_ids()[:6]:
            snap = self.engine.room_snapshot(room_id)
            self.old_snapshots.append(snap)
            self.station.apply_snapshot(snap, snap.model_dump_json())
        self.old_snapshots = self.old_snapshots[-12:]

    @rule()
    def restart_station(self) -> None:
        self.station.store.close()
        self.station = self._open()

    @rule()
    def partition(self) -> None:
        self.partitioned = True

    @rule()
    def heal(self) -> None:
        self.partitioned = False

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def acked_never_goes_back(self) -> None:
        acked = self.station.acked_through
        assert acked >= self.acked_high, (acked, self.acked_high)
        self.acked_high = acked
        assert acked <= self.station.next_seq - 1

    @invariant()
    def central_holds_each_seq_once_with_the_station_event(self) -> None:
        rows = self._central_rows()
        seqs = [s for s, _ in rows]
        assert len(seqs) == len(set(seqs))
        contiguous = 0
        for seq in seqs:
            if seq != contiguous + 1:
                break
            contiguous = seq
        assert self.station.acked_through <= contiguous, "acked past what central committed"
        written = {r.station_seq: r.event_id for r in self.station.store.all_events()}
        for seq, event_id in rows:
            assert seq in written, f"central has seq {seq} the station never wrote"
            assert event_id in (None, written[seq])

    @invariant()
    def snapshots_never_go_back(self) -> None:
        for room_id, snap in self.station.cache.snapshots.items():
            assert snap.version >= self.snapshot_high.get(room_id, 0)
            self.snapshot_high[room_id] = snap.version

    @invariant()
    def ticket_numbers_unique(self) -> None:
        with self.engine.db.read() as conn:
            twice = conn.execute(
                text(
                    "SELECT room_id, service_day, ticket_number FROM queue_entries "
                    "GROUP BY room_id, service_day, ticket_number HAVING count(*) > 1"
                )
            ).fetchall()
        assert not twice

    def teardown(self) -> None:
        if not hasattr(self, "station"):
            return
        try:
            # Heal and drain: resend everything unacked until the outbox is empty.
            self.partitioned = False
            for _ in range(200):
                if self.station.outbox_depth == 0:
                    break
                rows = self.station.store.unacked(self.station.acked_through, 50)
                payload = build_batch(self.sid, datetime.now(UTC).isoformat(), rows)
                self._apply(payload)
                self.station.apply_ack(self.to_station.pop())
            assert self.station.outbox_depth == 0, "the outbox never drained"
            seqs = [s for s, _ in self._central_rows()]
            assert seqs == list(range(1, self.station.next_seq)), "a gap or a stray seq"
            assert set(self.fed_back) <= set(seqs), "a tap that got feedback is missing"
        finally:
            self.station.store.close()
            self.engine.close()


def test_sync_state_machine(tmp_path):
    config = central_config(tmp_path, 1, "model/nfch")
    engine, sample = seeded_engine(config, patients=40)
    engine.close()
    SyncMachine.template = tmp_path / "central.db"
    SyncMachine.config = config
    SyncMachine.cards = sorted(sample.visit_cards.values())
    SyncMachine.tmp = tmp_path
    run_state_machine_as_test(
        SyncMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
