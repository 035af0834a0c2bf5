"""Analytics from audit rows: waits, service times, no-show rate, hours, bottleneck; and the
per-day summaries giving exactly the figures of one pass over the rows (as before summaries)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from central.web.analytics import Row, compute
from tests.support.analytics_reference import reference

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 09:00 in Seoul
SEOUL = ZoneInfo("Asia/Seoul")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_waits_services_no_shows_and_hours() -> None:
    rows = [
        Row(at(0), "v1", "check_in", "WAITING", "r1"),
        Row(at(1), "v2", "check_in", "WAITING", "r1"),
        Row(at(10), "v1", "call", "CALLED", "r1"),
        Row(at(12), "v1", "start", "ONGOING", "r1"),
        Row(at(20), "v1", "complete", "COMPLETED", "r1"),
        Row(at(20), "v1", "next_step", "WAITING", "r2"),
        Row(at(21), "v2", "call", "CALLED", "r1"),
        Row(at(25), "v2", "no_show", "NO_SHOW", "r1"),
        Row(at(70), "v1", "call", "CALLED", "r2"),
        Row(at(71), "v1", "start", "ONGOING", "r2"),
        Row(at(75), "v1", "complete", "COMPLETED", "r2"),
    ]
    doc = compute(rows, at(80), SEOUL)
    r1, r2 = doc["rooms"]
    assert (r1["room_id"], r1["completed"], r1["no_shows"], r1["no_show_rate"]) == (
        "r1",
        1,
        1,
        0.5,
    )
    assert r1["waits"] == 2
    assert r1["wait_median_min"] == 15.0  # 10 and 20 minutes
    assert r1["service_median_min"] == 8.0
    assert (r2["wait_median_min"], r2["service_median_min"]) == (50.0, 4.0)
    assert doc["totals"] == {
        "completed": 2,
        "no_shows": 1,
        "no_show_rate": 0.333,
        "wait_median_min": 20.0,
    }
    assert [(h["hour"], h["completed"]) for h in doc["hours"]] == [(9, 1), (10, 1)]


def test_bottleneck_is_the_line_growing_fastest_lately() -> None:
    rows = [Row(at(i), f"a{i}", "check_in", "WAITING", "busy") for i in range(50, 60)]
    rows += [Row(at(i), f"b{i}", "check_in", "WAITING", "calm") for i in range(50, 53)]
    rows += [Row(at(55), "b50", "call", "CALLED", "calm")]
    rows += [Row(at(5), f"old{i}", "check_in", "WAITING", "early") for i in range(9)]
    doc = compute(rows, at(60), SEOUL)
    assert doc["bottlenecks"] == ["busy", "calm"]  # "early" grew before the 30-minute window
    growth = {r["room_id"]: r["growth_30min"] for r in doc["rooms"]}
    assert growth == {"busy": 10, "calm": 2, "early": 0}


def test_nothing_yet() -> None:
    doc = compute([], at(0), SEOUL)
    assert doc["rooms"] == []
    assert doc["totals"]["no_show_rate"] is None
    assert doc["bottlenecks"] == []


def test_several_days_give_a_trend_and_no_live_growth_for_the_past() -> None:
    d1, d2 = date(2026, 11, 26), date(2026, 11, 27)
    rows = [
        Row(at(-1440), "a1", "check_in", "WAITING", "r1", d1),
        Row(at(-1430), "a1", "call", "CALLED", "r1", d1),
        Row(at(-1429), "a1", "start", "ONGOING", "r1", d1),
        Row(at(-1420), "a1", "complete", "COMPLETED", "r1", d1),
        Row(at(-1400), "a2", "check_in", "WAITING", "r1", d1),
        Row(at(-1380), "a2", "call", "CALLED", "r1", d1),
        Row(at(-1375), "a2", "no_show", "NO_SHOW", "r1", d1),
        Row(at(0), "b1", "check_in", "WAITING", "r1", d2),
        Row(at(30), "b1", "call", "CALLED", "r1", d2),
        Row(at(31), "b1", "start", "ONGOING", "r1", d2),
        Row(at(40), "b1", "complete", "COMPLETED", "r1", d2),
    ]
    past = compute(rows[:7], at(60), SEOUL, live=False)
    assert past["bottlenecks"] == []
    assert past["rooms"][0]["growth_30min"] is None
    assert past["days"] == [
        {
            "day": "2026-11-26",
            "completed": 1,
            "no_shows": 1,
            "no_show_rate": 0.5,
            "wait_median_min": 15.0,  # 10 and 20 minutes
        }
    ]
    both = compute(rows, at(60), SEOUL)
    assert [(d["day"], d["completed"], d["wait_median_min"]) for d in both["days"]] == [
        ("2026-11-26", 1, 15.0),
        ("2026-11-27", 1, 30.0),
    ]
    assert both["totals"]["completed"] == 2
    # Hours are hours of the day, over all days: 09:00 and 10:00 Seoul both days.
    assert sum(h["completed"] for h in both["hours"]) == 2


_ACTIONS = [
    ("check_in", "WAITING"),
    ("next_step", "WAITING"),
    ("rejoin", "WAITING"),
    ("release", "WAITING"),
    ("transfer", "WAITING"),
    ("miss", "WAITING"),
    ("call", "CALLED"),
    ("recall", "CALLED"),
    ("hold", "ON_HOLD"),
    ("start", "ONGOING"),
    ("complete", "COMPLETED"),
    ("no_show", "NO_SHOW"),
    ("cancel", "CANCELLED"),
    ("pay", "FINISHED"),
]


def random_rows(rng: random.Random, with_days: bool) -> list[Row]:
    """Visits of up to three service days, each a random walk of audit actions over a few
    rooms (and none), at microsecond times that may run past midnight; oldest first."""
    days = [date(2026, 11, 25) + timedelta(days=i) for i in range(rng.randint(1, 3))]
    rows: list[Row] = []
    for v in range(rng.randint(0, 30)):
        day = rng.choice(days)
        t = datetime.combine(day, datetime.min.time(), tzinfo=SEOUL) + timedelta(
            hours=rng.uniform(7, 20)
        )
        for _ in range(rng.randint(1, 12)):
            t += timedelta(microseconds=rng.randint(0, 2_400_000_000))
            action, to_state = rng.choice(_ACTIONS)
            room = rng.choice(["r1", "r2", "r3", None])
            rows.append(Row(t, f"v{v}", action, to_state, room, day if with_days else None))
    rows.sort(key=lambda r: r.at)
    return rows


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False), st.booleans(), st.booleans(), st.integers(0, 900))
def test_per_day_summaries_give_the_one_pass_figures(
    rng: random.Random, with_days: bool, live: bool, minutes: int
) -> None:
    rows = random_rows(rng, with_days)
    now = datetime(2026, 11, 25, 22, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    assert compute(rows, now, SEOUL, live=live) == reference(rows, now, SEOUL, live=live)
