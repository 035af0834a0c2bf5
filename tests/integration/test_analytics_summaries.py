"""Summaries of closed service days give exactly the figures of the audit log (SQLite and
PostgreSQL): a history of days driven through central's real Engine by the simulator, a
day's exam completed the next morning (the stored summary goes stale and is computed again),
today live, the CSV, and two workers filling the same days at once."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
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
from central.web.analytics import read_rows
from central.web.staff import ENGINE_KEY
from tests.support.analytics_reference import reference, reference_csv
from tests.support.central_db import *  # noqa: F403

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Seoul")
D1, D2, D3, D4 = (date(2026, 11, 23) + timedelta(days=i) for i in range(4))


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, dtime(hh, mm), tzinfo=TZ)


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


def plain(stored: dict[date, analytics.Stored]) -> dict[date, Any]:
    """Summaries as plain values (cells computed hold lists, cells read back arrays)."""
    return {
        d: (
            s.through,
            s.last_at,
            {
                k: (c.completed, c.no_shows, list(c.waits), list(c.services))
                for k, c in s.cells.items()
            },
        )
        for d, s in stored.items()
    }


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
    assert got == reference_csv(read_rows(engine, D1, D4), now, D4, TZ)
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
        assert plain(results[0]) == plain(results[1])
        with central_db.read() as conn:
            per_day = dict(
                conn.execute(
                    select(analytics_room_hours.c.service_day, func.count()).group_by(
                        analytics_room_hours.c.service_day
                    )
                ).all()
            )
        assert per_day == {d: len(results[0][d].cells) for d in days}
        with central_db.read() as conn:  # read back as computed
            assert plain(analytics.load_summaries(conn, D1, D2)) == plain(results[0])
        assert sorted(stored_days(central_db)) == days
        # Once more, by either: the same summary is there already, nothing is written.
        again = analytics.summarize_day(workers[1], D1, TZ)
        with central_db.write() as conn:
            assert analytics.store_summary(conn, D1, again, workers[1].clock.now()) is False
        check(workers[0], D1, D2)
    finally:
        for w in workers:
            w.close()


async def test_days_are_summarized_as_they_close(
    central_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await asyncio.to_thread(simulate, central_db, [D1, D2], 10, {})
    engine = engine_at(central_db, local(D3, 9))
    try:
        # D2 is over by the clock, but the engine has not rolled into D3 yet (its end-of-day
        # cancellations are still to come): only D1 counts as closed.
        assert analytics.fill_closed_days(engine) == [D1]
        assert analytics.fill_closed_days(engine) == []
        engine.roll_service_day()  # what central's day-roller does every minute
        assert analytics.fill_closed_days(engine) == [D2]
        marks = stored_days(central_db)
        assert sorted(marks) == [D1, D2]
        check(engine, D1, D2)

        # Served: the app's task fills them without any request.
        with central_db.write() as conn:
            conn.execute(analytics_room_hours.delete())
            conn.execute(analytics_days.delete())
        monkeypatch.setattr(analytics, "FILL_FIRST_S", 0.0)
        app = web.Application()
        app[ENGINE_KEY] = engine
        analytics.install(app)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            deadline = time.monotonic() + 30
            while stored_days(central_db) != marks:
                assert time.monotonic() < deadline, stored_days(central_db)
                await asyncio.sleep(0.05)
        finally:
            await runner.cleanup()
    finally:
        engine.close()
