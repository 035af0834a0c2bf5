"""Reader health `degraded`: what makes a working reader degraded, and what makes it ok again."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from edge.readers import ReaderConfig, ReadFailure
from edge.readers.base import FailureReason, HealthTracker
from edge.readers.simulated import SimulatedReader

CONFIGS = TypeAdapter(list[ReaderConfig])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tracker(clock: FakeClock) -> HealthTracker:
    h = HealthTracker("door", "pcsc", window_s=60.0, degraded_after=3, clock=clock)
    h.set("ok", "ACS ACR122U PICC Interface 00 00")
    return h


def _fail(h: HealthTracker, reason: FailureReason) -> None:
    h.failed(ReadFailure(reader=h.name, reason=reason, detail="test"))


def test_reader_faults_within_the_window_make_it_degraded_until_they_age_out():
    clock = FakeClock()
    h = _tracker(clock)
    _fail(h, "reader_error")
    clock.now += 10
    _fail(h, "bad_status")
    assert h.snapshot().status == "ok"  # two faults: under the threshold
    clock.now += 10
    _fail(h, "bad_uid")
    snap = h.snapshot()
    assert snap.status == "degraded"
    assert "3 faults within 60 s" in snap.detail
    assert "bad_status x1" in snap.detail
    assert "reader_error x1" in snap.detail
    assert snap.detail.endswith("ACS ACR122U PICC Interface 00 00")  # the reader is still named
    clock.now += 41  # the first fault is now 61 s old
    assert h.snapshot().status == "ok"
    assert h.snapshot().detail == "ACS ACR122U PICC Interface 00 00"


def test_cards_pulled_away_too_soon_never_degrade_a_reader():
    clock = FakeClock()
    h = _tracker(clock)
    for _ in range(20):
        _fail(h, "card_removed")
    assert h.snapshot().status == "ok"


def test_a_reader_that_keeps_getting_lost_is_degraded_once_it_is_back():
    clock = FakeClock()
    h = _tracker(clock)
    for i in range(3):
        h.set("disconnected", "reader removed")
        assert h.snapshot().status == "disconnected"  # degraded only qualifies a working reader
        clock.now += 5
        h.set("ok", "ACR122U")
        assert h.snapshot().status == ("degraded" if i == 2 else "ok")
    assert "lost x3" in h.snapshot().detail
    clock.now += 60
    assert h.snapshot().status == "ok"


def test_a_stop_is_not_a_loss():
    clock = FakeClock()
    h = _tracker(clock)
    for _ in range(3):
        h.set("disconnected", "stopped")
        h.set("ok")
    assert h.snapshot().status == "ok"


def test_failing_feedback_degrades_until_a_signal_is_played():
    clock = FakeClock()
    h = _tracker(clock)
    h.feedback_result("answered 6d00 (not 90 xx)")
    snap = h.snapshot()
    assert snap.status == "degraded"
    assert "LED/buzzer feedback failing: answered 6d00" in snap.detail
    h.feedback_result(None)
    assert h.snapshot().status == "ok"


def test_the_tracker_keeps_a_bounded_history_however_many_faults():
    clock = FakeClock()
    h = _tracker(clock)
    for _ in range(10_000):
        _fail(h, "reader_error")
    assert len(h._faults) <= 100
    assert h.snapshot().status == "degraded"
    assert len(h.snapshot().detail) <= 500


def test_thresholds_come_from_the_reader_config():
    (config,) = CONFIGS.validate_python(
        [{"type": "simulated", "name": "sim", "degraded_after": 2, "degraded_window_s": 5}]
    )
    reader = SimulatedReader(config)
    reader.inject("zz")
    assert reader.health().status == "ok"
    reader.inject("zz")
    assert reader.health().status == "degraded"
    # Defaults: 3 faults within 60 s.
    (default,) = CONFIGS.validate_python([{"type": "pcsc"}])
    assert (default.degraded_after, default.degraded_window_s) == (3, 60.0)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"type": "pcsc", "degraded_after": 0}, "degraded_after"),
        ({"type": "nfcpy", "degraded_window_s": 0}, "degraded_window_s"),
    ],
)
def test_bad_degraded_settings_are_refused_naming_the_key(item, where):
    with pytest.raises(ValidationError) as e:
        CONFIGS.validate_python([item])
    assert where in str(e.value)
