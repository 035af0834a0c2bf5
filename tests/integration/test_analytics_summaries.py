"""Summaries of closed service days give exactly the figures of the audit log (SQLite and
PostgreSQL): a history of days driven through central's real Engine by the simulator, a
day's exam completed the next morning (the stored summary goes stale and is computed again),
today live, the CSV, and two workers filling the same days at once."""

from __future__ import annotations

import random
import statistics
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from central.clock import FakeClock
from central.config import SiteSettings
from central.engine import Engine
from central.engine.loader import HospitalData, PatientIn, StepIn, VisitIn
from central.sim.config import SimConfig
from central.sim.engine_backend import SIM_SITE_KEY, EngineQueue
from central.sim.model import Simulation
from central.store import Database
from central.store.schema import analytics_days, analytics_room_hours
from central.web import analytics
from central.web.analytics import Row, read_rows
from tests.support.central_db import *  # noqa: F403

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Seoul")
D1, D2, D3, D4 = (date(2026, 11, 23) + timedelta(days=i) for i in range(4))


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, dtime(hh, mm), tzinfo=TZ)


# ------------------------------------------------------------------ the oracle

# The analytics as computed before summaries existed (commit d223960): one pass over all the
# selection's audit rows, oldest first. Kept here unchanged as the reference.


@dataclass(slots=True)
class _Room:
    waits: list[float] = field(default_factory=list)
    services: list[float] = field(default_factory=list)
    completed: int = 0
    no_shows: int = 0
    arrivals_recent: int = 0
    calls_recent: int = 0


def _median_min(values: list[float]) -> float | None:
    return round(statistics.median(values) / 60, 1) if values else None


def _p90_min(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] / 60, 1)


def _rate(no_shows: int, completed: int) -> float | None:
    ended = no_shows + completed
    return round(no_shows / ended, 3) if ended else None


def reference(rows: list[Row], now: datetime, tz: ZoneInfo, *, live: bool = True) -> dict[str, Any]:
    """Per room, per hour (of the day) and per day figures from audit rows (oldest first).

    A wait runs from entering a room's line (any transition to WAITING with a room) to the
    first call after it; a service from `start` to `complete`. `live`: the rows include
    today, so line growth over the last 30 minutes (and the bottleneck) mean something;
    otherwise they are None and empty.
    """
    rooms: dict[str, _Room] = defaultdict(_Room)
    days: dict[date, dict[str, Any]] = defaultdict(
        lambda: {"completed": 0, "no_shows": 0, "waits": []}
    )
    hours: dict[int, dict[str, Any]] = defaultdict(lambda: {"completed": 0, "waits": []})
    waiting_since: dict[tuple[str, str], datetime] = {}
    started: dict[str, tuple[str, datetime]] = {}
    recent = now - analytics.BOTTLENECK_WINDOW
    for r in rows:
        if r.room_id is None:
            continue
        room = rooms[r.room_id]
        hour = r.at.astimezone(tz).hour
        if r.to_state == "WAITING" and r.action != "miss":
            waiting_since.setdefault((r.visit_id, r.room_id), r.at)
            if r.at >= recent:
                room.arrivals_recent += 1
        if r.action == "call":
            since = waiting_since.pop((r.visit_id, r.room_id), None)
            if since is not None:
                wait = (r.at - since).total_seconds()
                room.waits.append(wait)
                hours[hour]["waits"].append(wait)
                if r.day is not None:
                    days[r.day]["waits"].append(wait)
            if r.at >= recent:
                room.calls_recent += 1
        elif r.action == "start":
            started[r.visit_id] = (r.room_id, r.at)
        elif r.action == "complete":
            begun = started.pop(r.visit_id, None)
            if begun is not None and begun[0] == r.room_id:
                room.services.append((r.at - begun[1]).total_seconds())
            room.completed += 1
            hours[hour]["completed"] += 1
            if r.day is not None:
                days[r.day]["completed"] += 1
        elif r.action == "no_show":
            room.no_shows += 1
            if r.day is not None:
                days[r.day]["no_shows"] += 1
        elif r.action in ("cancel", "transfer"):
            waiting_since.pop((r.visit_id, r.room_id), None)
    per_room: list[dict[str, Any]] = []
    growth: dict[str, int] = {}
    for room_id, s in sorted(rooms.items()):
        growth[room_id] = s.arrivals_recent - s.calls_recent
        ended = s.completed + s.no_shows
        per_room.append(
            {
                "room_id": room_id,
                "completed": s.completed,
                "no_shows": s.no_shows,
                "no_show_rate": round(s.no_shows / ended, 3) if ended else None,
                "waits": len(s.waits),
                "wait_median_min": _median_min(s.waits),
                "wait_p90_min": _p90_min(s.waits),
                "service_median_min": _median_min(s.services),
                "growth_30min": s.arrivals_recent - s.calls_recent if live else None,
            }
        )
    growing = sorted((g for g in growth.items() if g[1] > 0), key=lambda g: (-g[1], g[0]))
    if not live:
        growing = []
    all_waits = [w for s in rooms.values() for w in s.waits]
    completed = sum(s.completed for s in rooms.values())
    no_shows = sum(s.no_shows for s in rooms.values())
    return {
        "generated_at": now.isoformat(),
        "totals": {
            "completed": completed,
            "no_shows": no_shows,
            "no_show_rate": _rate(no_shows, completed),
            "wait_median_min": _median_min(all_waits),
        },
        "rooms": per_room,
        "hours": [
            {
                "hour": h,
                "completed": hours[h]["completed"],
                "wait_median_min": _median_min(hours[h]["waits"]),
            }
            for h in sorted(hours)
        ],
        "days": [
            {
                "day": d.isoformat(),
                "completed": days[d]["completed"],
                "no_shows": days[d]["no_shows"],
                "no_show_rate": _rate(days[d]["no_shows"], days[d]["completed"]),
                "wait_median_min": _median_min(days[d]["waits"]),
            }
            for d in sorted(days)
        ],
        "bottlenecks": [room_id for room_id, _ in growing[:3]],
    }


def reference_csv(rows: list[Row], now: datetime, today: date) -> list[list[Any]]:
    by_day: dict[date, list[Row]] = defaultdict(list)
    for r in rows:
        assert r.day is not None
        by_day[r.day].append(r)
    out: list[list[Any]] = []
    for day in sorted(by_day):
        doc = reference(by_day[day], now, TZ, live=day == today)
        for room in doc["rooms"]:
            cells = ("" if room[c] is None else room[c] for c in analytics.CSV_COLUMNS)
            out.append([day.isoformat(), *cells])
    return out


# ------------------------------------------------------------------ the history


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def simulate(db: Database, days: list[date], visits: int, seqs: dict[str, int]) -> None:
    """Whole simulated days through the Engine; `seqs` carries each station's sequence."""
    for day in days:
        config = SimConfig(visits=visits, seed=day.toordinal() % 1000, service_day=day)
        backend = EngineQueue(config, url_of(db), seed=config.seed)
        for room_id, seq in seqs.items():
            backend._station(room_id).seq = seq  # the same stations, day after day
        try:
            sim = Simulation(
                config, random.Random(config.seed), backend=backend, id_prefix=f"{day:%d}-"
            )
            sim.run()
        finally:
            seqs.update({r: s.seq for r, s in backend._stations.items()})
            backend.close()


def engine_at(db: Database, at: datetime) -> Engine:
    return Engine(
        db, site_key=SIM_SITE_KEY, site=SiteSettings(timezone="Asia/Seoul"), clock=FakeClock(at)
    )


def check(engine: Engine, first: date, last: date) -> dict[str, Any]:
    """The served document equals the one-pass reference; returns it."""
    today, now = engine.service_day(), engine.clock.now()
    doc = analytics.build(engine, first, last, today, now)
    ref = reference(read_rows(engine, first, last), now, TZ, live=last >= today)
    assert {k: doc[k] for k in ref} == ref, (first, last)
    assert (doc["from"], doc["to"], doc["today"]) == (str(first), str(last), str(today))
    return doc


def stored_days(db: Database) -> dict[date, int]:
    with db.read() as conn:
        rows = conn.execute(select(analytics_days.c.service_day, analytics_days.c.through_audit_id))
        return {d: through for d, through in rows}


def test_summaries_give_exactly_the_audit_logs_figures(central_db: Database) -> None:
    seqs: dict[str, int] = {}
    simulate(central_db, [D1, D2, D3], 30, seqs)
    # A patient still in the exam room when D3 ends: completed the next morning.
    late = engine_at(central_db, local(D3, 20, 30))
    late.load(
        HospitalData(
            patients=[
                PatientIn(registration_no="LATE1", name="김늦음", card_uids=["04FFFF00000001"])
            ],
            visits=[
                VisitIn(
                    visit_id="late-1",
                    registration_no="LATE1",
                    service_day=D3,
                    steps=[StepIn(room_id="im-1"), StepIn(room_id="lab-1")],
                )
            ],
        )
    )
    late.check_in("late-1", actor="desk")
    late.clock.set(local(D3, 20, 40))
    late.call("late-1", actor="nurse")
    late.start("late-1", actor="nurse")

    engine = engine_at(central_db, local(D4, 8))
    assert engine.service_day() == D4
    assert stored_days(central_db) == {}
    for first, last in [(D1, D1), (D2, D3), (D1, D3)]:
        check(engine, first, last)
    marks = stored_days(central_db)
    assert sorted(marks) == [D1, D2, D3]  # closed days only, each once
    before = check(engine, D1, D3)  # now from the stored summaries
    assert stored_days(central_db) == marks
    with central_db.read() as conn:
        cells = conn.execute(select(func.count()).select_from(analytics_room_hours)).scalar()
    assert (cells or 0) > 10

    # The next morning: the exam ends; its rows belong to D3 (and queue the lab for D3).
    engine.clock.set(local(D4, 8, 5))
    engine.complete("late-1", actor="nurse")
    engine.clock.set(local(D4, 8, 20))
    after = check(engine, D1, D3)
    assert after["totals"]["completed"] == before["totals"]["completed"] + 1
    assert stored_days(central_db)[D3] > marks[D3]  # computed again, stored
    assert stored_days(central_db)[D1] == marks[D1]
    # A range with today: the late line entry counts in the last 30 minutes' growth.
    live = check(engine, D3, D4)
    assert live["bottlenecks"] == ["lab-1"]

    # Today, simulated; then every kind of selection and the CSV.
    simulate(central_db, [D4], 30, seqs)
    engine.clock.set(local(D4, 11))
    for first, last in [(D4, D4), (D1, D4), (D2, D4)]:
        check(engine, first, last)
    assert sorted(stored_days(central_db)) == [D1, D2, D3]  # today is never stored
    now = engine.clock.now()
    got = analytics.csv_rows(engine, D1, D4, D4)
    assert got == reference_csv(read_rows(engine, D1, D4), now, D4)
    assert {row[0] for row in got} == {str(d) for d in (D1, D2, D3, D4)}


def test_two_workers_store_each_day_once(central_db: Database) -> None:
    simulate(central_db, [D1, D2], 15, {})
    workers = [engine_at(Database(url_of(central_db)), local(D3, 9)) for _ in range(2)]
    days = [D1, D2]
    barrier = threading.Barrier(2)
    results: list[dict[date, analytics.Stored]] = []
    errors: list[BaseException] = []

    def work(engine: Engine) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(analytics.closed_days(engine, days, TZ))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert len(results) == 2
        assert results[0] == results[1]
        with central_db.read() as conn:
            per_day = dict(
                conn.execute(
                    select(analytics_room_hours.c.service_day, func.count()).group_by(
                        analytics_room_hours.c.service_day
                    )
                ).all()
            )
        assert per_day == {d: len(results[0][d].cells) for d in days}
        assert sorted(stored_days(central_db)) == days
        # Once more, by either: the same summary is there already, nothing is written.
        again = analytics.summarize_day(workers[1], D1, TZ)
        with central_db.write() as conn:
            assert analytics.store_summary(conn, D1, again, workers[1].clock.now()) is False
        check(workers[0], D1, D2)
    finally:
        for w in workers:
            w.close()
