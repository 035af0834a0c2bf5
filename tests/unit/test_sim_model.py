"""The simulated day: reproducible, peaked, consistent queues, every visit ends."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from central.sim import events as ev
from central.sim.backend import PureQueue, QueueModelError
from central.sim.config import SimConfig
from central.sim.events import EventLog, SimEvent
from central.sim.model import Simulation
from central.sim.summary import Summary, percentile, render_table


class Recorder:
    def __init__(self) -> None:
        self.events: list[SimEvent] = []

    def on_event(self, event: SimEvent) -> None:
        self.events.append(event)


def run_day(config: SimConfig, *observers: object) -> tuple[Simulation, Summary]:
    summary = Summary()
    sim = Simulation(config, random.Random(config.seed), observers=[summary, *observers])  # type: ignore[list-item]
    sim.run()
    return sim, summary


def test_same_seed_same_summary_and_log(tmp_path):
    config = SimConfig(visits=200, seed=7)
    logs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.jsonl"
        with path.open("w") as out:
            _sim, summary = run_day(config, EventLog(out, _midnight()))
        logs.append((summary.to_dict(), path.read_bytes()))
    assert logs[0] == logs[1]
    assert logs[0][0]["visits"]["total"] == 200


def test_different_seed_different_day():
    a = run_day(SimConfig(visits=200, seed=1))[1].to_dict()
    b = run_day(SimConfig(visits=200, seed=2))[1].to_dict()
    assert a != b
    assert a["waits"] != b["waits"]


def test_morning_peak_shows_in_arrivals():
    summary = run_day(SimConfig(visits=2000, seed=3))[1]
    by_hour = summary.arrivals_by_hour
    assert by_hour[9] + by_hour[10] > 2 * (by_hour[15] + by_hour[16])
    assert by_hour[9] > by_hour[12]


class QueueMembership:
    """Replays the events: a visit is in at most one queue, and calls come from its queue."""

    def __init__(self) -> None:
        self.queued: dict[str, str] = {}
        self.checks = 0

    def on_event(self, e: SimEvent) -> None:
        if e.kind == ev.CHECK_IN:
            assert e.visit_id not in self.queued, f"{e.visit_id} joins {e.room_id} while queued"
            assert e.room_id is not None
            self.queued[e.visit_id] = e.room_id
            self.checks += 1
        elif e.kind in (ev.CALL, ev.START, ev.MISS, ev.COMPLETE):
            assert self.queued.get(e.visit_id) == e.room_id
            if e.kind == ev.COMPLETE:
                del self.queued[e.visit_id]
        elif e.kind in ev.VISIT_ENDS:
            self.queued.pop(e.visit_id, None)
            assert e.visit_id not in self.queued


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_patient_is_in_two_queues_at_once(seed):
    membership = QueueMembership()
    sim, _ = run_day(SimConfig(visits=600, seed=seed, miss_call_rate=0.1), membership)
    assert membership.checks > 600
    assert membership.queued == {}
    assert all(sim.backend.waiting(r) == [] for r in sim.rooms)


@pytest.mark.parametrize(
    "config",
    [
        SimConfig(visits=450, seed=4),
        # Overloaded and cut off at noon: open visits are cancelled, but still end.
        SimConfig(visits=1500, seed=5, close_by="12:00", abandon_rate=0.1),
    ],
)
def test_every_visit_ends_by_the_end_of_the_day(config):
    recorder = Recorder()
    sim, summary = run_day(config, recorder)
    ends = Counter(e.visit_id for e in recorder.events if e.kind in ev.VISIT_ENDS)
    assert set(ends) == set(sim.visits)
    assert set(ends.values()) == {1}
    v = summary.to_dict()["visits"]
    assert v["finished"] + v["no_show"] + v["cancelled"] == config.visits
    assert all(e.t <= sim.close_by for e in recorder.events)
    if config.close_by == "12:00":
        assert v["cancelled"] > 0
        kinds = Counter(e.detail for e in recorder.events if e.kind == ev.NO_SHOW)
        assert kinds["missed_calls"] > 0


def test_taps_include_double_and_wrong_station_taps():
    recorder = Recorder()
    run_day(SimConfig(visits=300, seed=6, double_tap_rate=0.3, wrong_station_rate=0.2), recorder)
    taps = Counter(e.detail for e in recorder.events if e.kind == ev.TAP)
    assert taps["already_waiting"] > 30
    assert taps["wrong_station"] > 20
    # A wrong-station tap is followed by the patient's check-in elsewhere.
    wrong = {e.visit_id for e in recorder.events if e.detail == "wrong_station"}
    checked_in = {e.visit_id for e in recorder.events if e.kind == ev.CHECK_IN}
    assert wrong <= checked_in


def test_priority_patients_wait_less_on_a_busy_day():
    recorder = Recorder()
    run_day(SimConfig(visits=700, seed=8, priority_rate=0.1), recorder)
    joined: dict[str, float] = {}
    waits: dict[int, list[float]] = {0: [], 5: []}
    for e in recorder.events:
        if e.kind == ev.CHECK_IN:
            joined[e.visit_id] = e.t
        elif e.kind == ev.CALL and e.visit_id in joined:
            assert e.priority is not None
            waits[e.priority].append(e.t - joined.pop(e.visit_id))
    mean = {p: sum(w) / len(w) for p, w in waits.items()}
    assert mean[0] < 0.5 * mean[5]


def test_staff_multiplier_serves_a_big_day():
    summary = run_day(SimConfig(visits=3000, seed=9, staff_multiplier=6))[1].to_dict()
    assert summary["visits"]["total"] == 3000
    assert summary["visits"]["cancelled"] == 0
    assert summary["waits"]["count"] > 7000


def test_event_log_lines_are_json_in_time_order(tmp_path):
    path = tmp_path / "log.jsonl"
    with path.open("w") as out:
        log = EventLog(out, _midnight())
        run_day(SimConfig(visits=50, seed=1), log)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == log.lines > 200
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    assert {"arrive", "check_in", "call", "start", "complete", "finish"} <= {
        line["event"] for line in lines
    }
    assert lines[0]["at"].startswith("2026-03-02T08:")
    assert lines[0]["at"].endswith("+09:00")


def test_summary_table_lists_every_room():
    data = run_day(SimConfig(visits=100, seed=2))[1].to_dict()
    table = render_table(data)
    for room_id in data["rooms"]:
        assert room_id in table
    r = next(iter(data["rooms"].values()))
    assert r["wait_p50_s"] <= r["wait_p90_s"] <= r["wait_max_s"]


def test_percentile():
    assert percentile([], 0.5) == 0.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.9) == 5.0


# ---------------------------------------------------------------------------- the pure queue


def test_pure_queue_orders_by_priority_then_arrival():
    q = PureQueue()
    assert q.check_in("a", "r", 5, 0, 0) == 1
    assert q.check_in("b", "r", 5, 0, 1) == 2
    assert q.check_in("c", "r", 0, 0, 2) == 1
    assert q.waiting("r") == ["c", "a", "b"]
    assert q.call_next("r", 1, 3) == "c"
    assert q.waiting("r") == ["a", "b"]
    with pytest.raises(QueueModelError):
        q.check_in("a", "other", 5, 0, 4)


def test_pure_queue_missed_call_goes_back_after_others_then_no_show():
    q = PureQueue(requeue_after=2, no_show_after=2)
    for i, v in enumerate("abcde"):
        q.check_in(v, "r", 5, 0, i)
    assert q.call_next("r", 1, 10) == "a"
    assert q.miss("a", 11) is True
    assert q.waiting("r") == ["b", "c", "a", "d", "e"]
    assert q.call_next("r", 1, 12) == "b"
    q.start("b", 13)
    q.complete("b", 14)
    assert q.call_next("r", 1, 15) == "c"
    q.cancel("c", 16)
    assert q.call_next("r", 1, 17) == "a"
    assert q.miss("a", 18) is False  # second call: a no-show
    assert q.waiting("r") == ["d", "e"]
    with pytest.raises(QueueModelError):
        q.start("a", 19)


def _midnight():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(2026, 3, 2, tzinfo=ZoneInfo("Asia/Seoul"))
