"""Pure parts of the engine: order keys, the service day, the sample seed, rejection texts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.clock import FakeClock, ServiceDay
from central.engine import REASONS, Rejected
from central.engine.keys import key_between
from central.engine.loader import masked
from central.seed import sample_hospital
from protocol.journey import Action, State, Trigger, apply

HLC_KEYS = st.builds(
    lambda ms, c, node: f"{ms:015d}.{c:06d}.{node}",
    st.integers(0, 10**15 - 1),
    st.integers(0, 999_999),
    st.sampled_from(["st-1", "st-10", "central", "a"]),
)


@given(st.lists(HLC_KEYS, min_size=1, max_size=20, unique=True), st.data())
@settings(max_examples=200)
def test_key_between_always_fits_between_any_two_keys(seed_keys, data):
    keys = sorted(seed_keys)
    for _ in range(30):
        i = data.draw(st.integers(-1, len(keys) - 1))
        low = keys[i] if i >= 0 else ""
        high = keys[i + 1] if i + 1 < len(keys) else None
        if low == "" and high is None:
            continue
        k = key_between(low, high)
        assert low < k
        assert high is None or k < high
        assert not k.endswith("!")
        keys.insert(i + 1, k)
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_key_between_refuses_bad_bounds():
    with pytest.raises(ValueError, match="a < b"):
        key_between("b", "a")
    with pytest.raises(ValueError, match="'!'"):
        key_between("a!", None)


def test_repeated_squeezing_stays_short():
    low, high = "001795772000000.000000.st-1", "001795772000000.000000.st-2"
    for _ in range(200):
        low = key_between(low, high)
    assert len(low) < 255


def test_service_day_turns_at_the_configured_local_time():
    days = ServiceDay("Asia/Seoul", "04:00")
    # 03:59 and 04:00 in Seoul on 28 November
    assert days.of(datetime(2026, 11, 27, 18, 59, tzinfo=UTC)) == date(2026, 11, 27)
    assert days.of(datetime(2026, 11, 27, 19, 0, tzinfo=UTC)) == date(2026, 11, 28)
    assert days.start_of(date(2026, 11, 28)) == datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
    assert ServiceDay("UTC", "00:00").of(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == date(2026, 1, 1)


def test_fake_clock_moves_only_when_told():
    clock = FakeClock(datetime(2026, 11, 27, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(minutes=5) == datetime(2026, 11, 27, 0, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 11, 27))


def test_sample_hospital_is_deterministic_and_complete():
    day = date(2026, 11, 27)
    a = sample_hospital(day)
    b = sample_hospital(day)
    assert a.data == b.data
    assert a.card_uids == b.card_uids
    assert len(a.data.departments) == 12
    assert len(a.data.rooms) == 30
    assert {r.floor_label for r in a.data.rooms} == {"1F", "2F", "3F"}
    assert len(a.data.stations) == 4
    assert all(s.node_id for s in a.data.stations)
    assert len(a.data.patients) == 200
    assert len(a.data.visits) == 200
    assert {len(v.steps) for v in a.data.visits} <= {1, 2, 3, 4, 5}
    assert len({len(v.steps) for v in a.data.visits}) >= 4
    assert len(set(a.card_uids.values())) == 200
    assert {v.priority for v in a.data.visits} >= {3, 5}
    # the same people the next day, with other visits
    c = sample_hospital(date(2026, 11, 28))
    assert c.card_uids == a.card_uids
    assert [v.steps for v in c.data.visits] != [v.steps for v in a.data.visits]
    assert all("*" in masked(p.name) for p in a.data.patients)


def test_every_journey_rejection_reason_has_texts():
    for state in State:
        for action in Action:
            result = apply(state, action, Trigger.STAFF)
            if not hasattr(result, "target"):
                assert result.reason in REASONS
    for reason in REASONS:
        err = Rejected.of(reason)
        assert err.message_ko
        assert err.message_en
        assert 400 <= err.status < 600
    assert "?" not in Rejected.of("room_closed", room_id="x").message_en
