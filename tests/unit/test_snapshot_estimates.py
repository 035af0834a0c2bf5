"""A snapshot's wait estimates for the whole line come from one `estimate_line` pass (issue #13).

`RoomStatsEstimator.estimate_line(room, n)` must give exactly `estimate(room, p)` for every
place p = 1 .. n (the snapshot bytes are compared with the per-place figures elsewhere), and
its cost must be linear in n: before it, a snapshot asked `estimate` once per place, and when
a desk had been busy for longer than a whole cycle each of those calls played the desks
forward p - 1 times (n²/2 heap operations for a line of n).
"""

from __future__ import annotations

import heapq
import itertools
import random
from datetime import UTC, datetime

import pytest

from central.clock import FakeClock
from central.engine import RoomInfo, SimpleEstimator, WaitEstimate
from central.engine.reads import line_estimates
from central.engine.types import WaitLine
from central.estimator import RoomStatsEstimator
from central.estimator import model as estimator_model

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def warm(capacity: int, rng: random.Random) -> tuple[RoomStatsEstimator, FakeClock, RoomInfo]:
    """A room with 40 heavy-tailed desk cycles behind it, and `capacity` desks busy now."""
    clock = FakeClock(T0)
    est = RoomStatsEstimator(clock=clock)
    room = RoomInfo("r", capacity, 300, True)
    est.configure_room("r", 300, capacity)
    at = T0.timestamp()
    for i in range(40):
        visit = f"done{i}"
        est.observe("check_in", "r", visit, at)
        est.observe("call", "r", visit, at + 10)
        at += 10 + rng.lognormvariate(5.5, 1.0)
        est.observe("complete", "r", visit, at)
    for i in range(30):
        est.observe("check_in", "r", f"w{i}", at)
    for i in range(capacity):
        est.observe("call", "r", f"w{i}", at + i)
    clock.set(datetime.fromtimestamp(at + capacity, UTC))
    return est, clock, room


def places(line: WaitLine) -> list[WaitEstimate]:
    assert len(line.expected_s) == len(line.low_s) == len(line.high_s)
    return [WaitEstimate(*e) for e in zip(line.expected_s, line.low_s, line.high_s, strict=True)]


def heap_path(est: RoomStatsEstimator, clock: FakeClock) -> bool:
    """Whether the model now plays the desks forward (a desk busy longer than a cycle)."""
    now = clock.now().timestamp()
    return not estimator_model._Line(est, est._current("r", now), now).flat


def test_cold_room_line_equals_estimate_per_place() -> None:
    est = RoomStatsEstimator(clock=FakeClock(T0))
    room = RoomInfo("r", 3, 420, True)
    assert places(est.estimate_line(room, 200)) == [est.estimate(room, p) for p in range(1, 201)]


@pytest.mark.parametrize("capacity", [1, 2, 4])
def test_warm_room_line_equals_estimate_per_place_on_both_paths(capacity: int) -> None:
    est, clock, room = warm(capacity, random.Random(capacity))
    seen = set()
    for _ in range(60):  # the busy desks age: from "a desk frees within a cycle" to "not"
        seen.add(heap_path(est, clock))
        line = places(est.estimate_line(room, 120))
        assert line == [est.estimate(room, p) for p in range(1, 121)]
        assert all(a.expected_s <= b.expected_s for a, b in itertools.pairwise(line))
        clock.advance(seconds=45)
    assert seen == {False, True}  # both branches of the model were compared


def test_a_whole_line_plays_the_desks_forward_once(monkeypatch: pytest.MonkeyPatch) -> None:
    est, clock, room = warm(2, random.Random(7))
    while not heap_path(est, clock):
        clock.advance(seconds=30)
    calls = 0
    real = heapq.heapreplace

    def counted(heap: list[float], item: float) -> float:
        nonlocal calls
        calls += 1
        return real(heap, item)

    monkeypatch.setattr(estimator_model.heapq, "heapreplace", counted)
    est.estimate_line(room, 1000)
    assert calls == 999  # place p needs p - 1 steps, each done once for the whole line
    calls = 0
    est.estimate(room, 1000)
    assert calls == 999  # one place alone still plays forward as far as it needs


def test_asked_out_of_order_the_line_starts_again() -> None:
    est, clock, _room = warm(2, random.Random(7))
    while not heap_path(est, clock):
        clock.advance(seconds=30)
    now = clock.now().timestamp()
    line = estimator_model._Line(est, est._current("r", now), now)
    later = line.at(50)
    earlier = line.at(3)
    assert earlier == estimator_model._Line(est, est._current("r", now), now).at(3)
    assert line.at(50) == later


def test_estimators_without_a_line_method_are_asked_per_place() -> None:
    room = RoomInfo("r", 2, 300, True)
    simple = SimpleEstimator()
    got = line_estimates(simple, room, 5)
    assert places(got) == [simple.estimate(room, p) for p in range(1, 6)]
    assert got.expected_s[:3] == [150, 300, 450]
    assert got.low_s == [None] * 5


@pytest.mark.parametrize("seed", range(8))
def test_long_lines_worked_out_with_arrays_equal_estimate_per_place(seed: int) -> None:
    """A 1,000-place line is worked out with numpy when no desk overran its cycle (and for a
    cold room): the very figures `estimate` gives place by place, in random rooms and times."""
    rng = random.Random(seed)
    capacity = rng.randint(1, 6)
    est, clock, room = warm(capacity, rng)
    room = RoomInfo("r", capacity, rng.randint(60, 1200), True)
    compared = 0
    for _ in range(20):
        if not heap_path(est, clock):
            line = places(est.estimate_line(room, 1000))
            assert line == [est.estimate(room, p) for p in range(1, 1001)]
            compared += 1
        clock.advance(seconds=rng.randint(1, 40))
    assert compared  # the array path ran
    cold = RoomStatsEstimator(clock=FakeClock(T0))
    assert places(cold.estimate_line(room, 1000)) == [
        cold.estimate(room, p) for p in range(1, 1001)
    ]
