"""Hybrid logical clock: monotonic under wall-clock jumps, causal under merges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ClockSkewError
from protocol.hlc import HLCTimestamp, HybridLogicalClock


class FakeClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_clock_jumping_back_by_hours_keeps_timestamps_increasing():
    wall = FakeClock(1_800_000_000_000)
    clock = HybridLogicalClock("s1", wall)
    first = clock.now()
    wall.ms -= 6 * 3600 * 1000
    later = [clock.now() for _ in range(5)]
    assert all(a < b for a, b in zip([first, *later], later, strict=False))
    assert later[-1].wall_ms == first.wall_ms  # holds the high-water mark, counts up
    assert later[-1].counter == 5


def test_clock_jumping_forward_then_back_stays_monotonic():
    wall = FakeClock(1_000)
    clock = HybridLogicalClock("s1", wall)
    seen = [clock.now()]
    for ms in (86_400_000, 2_000, 3_000, 86_400_001):
        wall.ms = ms
        seen.append(clock.now())
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)


@given(st.lists(st.integers(min_value=0, max_value=10**13), min_size=1, max_size=200))
def test_any_sequence_of_wall_readings_gives_strictly_increasing_timestamps(readings):
    wall = FakeClock(readings[0])
    clock = HybridLogicalClock("n", wall)
    previous = None
    for ms in readings:
        wall.ms = ms
        ts = clock.now()
        if previous is not None:
            assert previous < ts
        assert ts.wall_ms >= ms or previous is not None
        previous = ts


def test_receive_orders_after_the_remote_event():
    a = HybridLogicalClock("a", FakeClock(5_000))
    b = HybridLogicalClock("b", FakeClock(1_000))  # b's wall clock is 4 s behind
    sent = a.now()
    got = b.receive(sent)
    assert got > sent
    assert b.now() > sent


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(min_value=0, max_value=10_000)),
        min_size=2,
        max_size=100,
    )
)
def test_messages_between_two_nodes_never_go_back_in_hlc(steps):
    walls = {"a": FakeClock(0), "b": FakeClock(0)}
    clocks = {n: HybridLogicalClock(n, walls[n], max_drift_ms=10**9) for n in walls}
    last_sent = None
    for node, ms in steps:
        walls[node].ms = ms
        ts = clocks[node].receive(last_sent) if last_sent else clocks[node].now()
        if last_sent is not None:
            assert ts > last_sent
        last_sent = ts


def test_receive_refuses_a_timestamp_too_far_ahead_and_keeps_the_clock():
    clock = HybridLogicalClock("central", FakeClock(1_000_000), max_drift_ms=60_000)
    before = clock.now()
    with pytest.raises(ClockSkewError, match="ahead"):
        clock.receive(HLCTimestamp(1_000_000 + 86_400_000, 0, "s1"))
    assert clock.now().wall_ms == before.wall_ms


def test_text_form_sorts_like_the_timestamps():
    stamps = [HLCTimestamp(w, c, n) for w, c, n in [(5, 0, "b"), (5, 1, "a"), (40, 0, "a")]]
    texts = [s.to_text() for s in stamps]
    assert sorted(texts) == texts
    assert [HLCTimestamp.from_text(t) for t in texts] == stamps
    with pytest.raises(ValueError, match="not an HLC"):
        HLCTimestamp.from_text("12.3.x")
