"""The simulator driving central's real Engine in-process (SQLite on disk, FakeClock)."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from central.clock import FakeClock
from central.estimator import RoomStatsEstimator, local_clock
from central.sim import events as ev
from central.sim.config import SimConfig
from central.sim.engine_backend import EngineQueue
from central.sim.events import SimEvent
from central.sim.model import Simulation
from central.sim.summary import Summary
from protocol.journey import State

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self) -> None:
        self.events: list[SimEvent] = []

    def on_event(self, event: SimEvent) -> None:
        self.events.append(event)


def run_engine_day(config: SimConfig, db_path, *observers, estimator=None):
    backend = EngineQueue(config, str(db_path), estimator=estimator, seed=config.seed)
    summary = Summary()
    sim = Simulation(
        config, random.Random(config.seed), backend=backend, observers=[summary, *observers]
    )
    sim.run()
    return sim, backend, summary


def test_a_day_through_the_engine_ends_every_visit(tmp_path):
    config = SimConfig(visits=40, seed=3, wrong_station_rate=0.1, double_tap_rate=0.2)
    recorder = Recorder()
    sim, backend, summary = run_engine_day(config, tmp_path / "central.db", recorder)
    try:
        engine = backend.engine
        outcome = {e.visit_id: e for e in recorder.events if e.kind in ev.VISIT_ENDS}
        assert set(outcome) == set(sim.visits)
        expected_state = {ev.FINISH: State.FINISHED, ev.CANCEL: State.CANCELLED}
        for visit_id, end in outcome.items():
            state = engine.visit(visit_id).state
            if end.kind == ev.NO_SHOW:
                # Never came: still registered; missed every call: a no-show.
                want = State.NO_SHOW if end.detail == "missed_calls" else State.REGISTERED
            else:
                want = expected_state[end.kind]
            assert state is want, (visit_id, end)
        for room_id in sim.rooms:
            snap = engine.room_snapshot(room_id)
            assert snap.waiting == snap.now_calling == snap.ongoing == []
        # Taps went in as station batches: wrong-station taps were refused as wrong_room.
        wrong = sum(1 for e in recorder.events if e.detail == "wrong_station")
        assert wrong > 0
        assert backend.rejects == Counter({"wrong_room": wrong})
        assert summary.to_dict()["visits"]["finished"] > 30
        stations = {s.station_id: s for s in engine.stations()}
        checked_in_rooms = {e.room_id for e in recorder.events if e.kind == ev.CHECK_IN}
        for room_id in checked_in_rooms:
            station = stations[f"st-{room_id}"]
            assert station.acked_through >= 1  # contiguous sequence numbers, all acked
    finally:
        backend.close()


def test_engine_mode_is_reproducible_from_a_seed(tmp_path):
    config = SimConfig(visits=25, seed=5)
    a = run_engine_day(config, tmp_path / "a.db")
    b = run_engine_day(config, tmp_path / "b.db")
    try:
        assert a[2].to_dict() == b[2].to_dict()
        audit_a = [(r.visit_id, r.action, r.at) for r in a[1].engine.audit(limit=5000)]
        audit_b = [(r.visit_id, r.action, r.at) for r in b[1].engine.audit(limit=5000)]
        assert audit_a == audit_b
        assert len(audit_a) > 100
    finally:
        a[1].close()
        b[1].close()


class SnapshotCheck:
    """After each check-in, the engine's snapshot shows the estimator's interval."""

    def __init__(self) -> None:
        self.backend: EngineQueue | None = None
        self.checked = 0

    def on_event(self, e: SimEvent) -> None:
        if e.kind != ev.CHECK_IN or self.backend is None or e.room_id is None:
            return
        snap = self.backend.engine.room_snapshot(e.room_id)
        mine = next(w for w in snap.waiting if w.visit_id == e.visit_id)
        assert mine.position == e.position
        assert mine.estimated_wait_s is not None
        assert mine.wait_low_s is not None
        assert mine.wait_high_s is not None
        assert mine.wait_low_s <= mine.estimated_wait_s <= mine.wait_high_s
        self.checked += 1


def test_the_engine_publishes_the_room_stats_estimate(tmp_path):
    config = SimConfig(visits=40, seed=8)
    clock = FakeClock(datetime(2026, 3, 2, 5, tzinfo=ZoneInfo("Asia/Seoul")))
    estimator = RoomStatsEstimator(clock=clock, local=local_clock("Asia/Seoul"))
    backend = EngineQueue(
        config, str(tmp_path / "central.db"), seed=config.seed, estimator=estimator, clock=clock
    )
    check = SnapshotCheck()
    check.backend = backend
    try:
        sim = Simulation(config, random.Random(config.seed), backend=backend, observers=[check])
        sim.run()
        assert check.checked > 60
        # The estimator learned the desk cycles from the engine's audit rows.
        assert estimator.recent_cycles("pay-1") > 0
        assert estimator.recent_cycles("lab-1") > 0
    finally:
        backend.close()


def test_simulate_command_in_engine_mode(tmp_path, capsys):
    from central.sim.cli import main

    summary = tmp_path / "summary.json"
    db = tmp_path / "central.db"
    rc = main(
        ["--mode", "engine", "--visits", "15", "--database", str(db), "--summary", str(summary)]
    )
    assert rc == 0
    data = json.loads(summary.read_text())
    assert data["run"]["mode"] == "engine"
    assert data["run"]["engine_operations"] > 50
    assert data["visits"]["total"] == 15
    assert db.exists()
    assert "mode engine" in capsys.readouterr().out
