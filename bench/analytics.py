"""`nfc-hospital bench analytics`: the dashboard's analytics of past days, from the audit log
(as before migration 0006) vs. from the per-day summaries (central/web/analytics.py).

Builds a history of simulated days (the pure simulator, ~12,000 visits a day, its events
written as the engine's audit rows) ending yesterday, then for 1, 7 and 31 days ending
yesterday times:
- before: reading the range's audit rows and computing the figures (what every first request
  did; the server then cached the document for 10 minutes);
- fill: summarizing the days once (the first request of a day that has no summary yet);
- after, first load: a request with summaries stored but nothing in the server's memory
  (a fresh worker, or another range);
- after, cached: the same request again (the in-memory document, after checking one index
  entry per day that no audit row was added).
Both paths' documents are compared field by field.

    nfc-hospital bench analytics [--visits 12000] [--days 31] [--pg-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from central.clock import FakeClock
from central.config import SiteSettings
from central.engine import Engine
from central.sim import events as ev
from central.sim.config import SimConfig
from central.sim.events import SimEvent
from central.sim.model import Simulation
from central.store import Database
from central.store.schema import analytics_days, analytics_room_hours, audit_log
from central.web import analytics

KEY = b"bench-site-key-0123456789abcdef!"
TZ = "Asia/Seoul"
TODAY = date(2026, 11, 27)
T = TypeVar("T")

# Simulator event -> (audit action, state it leads to), as the engine writes them.
_AUDIT = {
    ev.CHECK_IN: ("check_in", "WAITING"),
    ev.CALL: ("call", "CALLED"),
    ev.MISS: ("miss", "WAITING"),
    ev.START: ("start", "ONGOING"),
    ev.COMPLETE: ("complete", "COMPLETED"),
    ev.NO_SHOW: ("no_show", "NO_SHOW"),
    ev.CANCEL: ("cancel", "CANCELLED"),
    ev.FINISH: ("pay", "FINISHED"),
}


class _AuditRows:
    """Turns one simulated day's events into audit rows."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.midnight = datetime.combine(day, dtime(0), tzinfo=ZoneInfo(TZ))
        self.rows: list[dict[str, Any]] = []

    def on_event(self, e: SimEvent) -> None:
        found = _AUDIT.get(e.kind)
        if found is None:
            return
        action, to_state = found
        self.rows.append(
            {
                "at": (self.midnight + timedelta(seconds=e.t)).astimezone(UTC),
                "service_day": self.day,
                "visit_id": e.visit_id,
                "action": action,
                "trigger": "staff",
                "actor": "bench",
                "from_state": "",
                "to_state": to_state,
                "room_id": e.room_id if action != "pay" else None,
                "event_id": None,
                "detail": {},
            }
        )


def _history(db: Database, days: list[date], visits: int) -> int:
    """Simulate each day (its own seed) and insert its audit rows; returns rows written."""
    total = 0
    for i, day in enumerate(days):
        config = SimConfig(
            visits=visits, seed=1000 + i, service_day=day, staff_multiplier=max(1, visits // 500)
        )
        out = _AuditRows(day)
        Simulation(
            config, random.Random(config.seed), observers=[out], id_prefix=f"{day:%m%d}-"
        ).run()
        out.rows.sort(key=lambda r: r["at"])  # commit order follows time
        with db.write() as conn:
            for k in range(0, len(out.rows), 5000):
                conn.execute(insert(audit_log), out.rows[k : k + 5000])
        total += len(out.rows)
    return total


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _drop_summaries(db: Database) -> None:
    with db.write() as conn:
        conn.execute(analytics_room_hours.delete())
        conn.execute(analytics_days.delete())


def _one(engine: Engine, first: date, last: date) -> tuple[str, bool]:
    """Time one range (of past days ending `last`) both ways."""
    tz = ZoneInfo(TZ)
    now = engine.clock.now()
    _drop_summaries(engine.db)
    before_s, before = _timed(
        lambda: analytics.compute(analytics.read_rows(engine, first, last), now, tz, live=False)
    )
    cache = {(first, last): before}  # the old in-memory cache (10 minutes)
    before_hit_s, _ = _timed(lambda: cache[(first, last)])
    fill_s, _ = _timed(lambda: analytics.closed_days(engine, analytics.span(first, last), tz))
    served = analytics.Figures(engine)  # a fresh worker: summaries stored, memory empty
    after_s, after = _timed(lambda: served.get(first, last, TODAY))
    hit_s, again = _timed(lambda: served.get(first, last, TODAY))
    same = {k: after[k] for k in before} == before and again is after
    n = (last - first).days + 1
    line = (
        f"{n:>2} | {before_s:7.3f} s / {before_hit_s * 1e6:4.1f} µs | {fill_s:7.3f} s | "
        f"{after_s * 1000:7.1f} ms / {hit_s * 1000:5.2f} ms | {before_s / after_s:6.1f}x | "
        f"{'yes' if same else 'NO'}"
    )
    return line, same


def _measure(db: Database, label: str, ranges: list[int]) -> bool:
    engine = Engine(db, site_key=KEY, site=SiteSettings(timezone=TZ), clock=FakeClock(_noon()))
    yesterday = TODAY - timedelta(days=1)
    print(
        f"{label}: days | before: first / cached | fill once | after: first / cached | "
        "before first / after first | identical"
    )
    ok = True
    for n in ranges:
        line, same = _one(engine, yesterday - timedelta(days=n - 1), yesterday)
        print(f"{label}: {line}", flush=True)
        ok &= same
    return ok


def _noon() -> datetime:
    return datetime.combine(TODAY, dtime(12), tzinfo=ZoneInfo(TZ))


def _sizes(db: Database) -> str:
    with db.read() as conn:
        rows = conn.execute(select(func.count()).select_from(audit_log)).scalar()
        cells = conn.execute(select(func.count()).select_from(analytics_room_hours)).scalar()
    return f"{rows:,} audit rows, {cells:,} summary rows (room x hour x day)"


def _pg(url: str, days: list[date], visits: int) -> tuple[Database, str]:
    """A fresh schema with the history (dropped by the caller)."""
    schema = f"bench_analytics_{uuid.uuid4().hex[:8]}"
    admin = Database(url)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    db = Database(f"{url}{sep}options=-csearch_path%3D{schema}")
    db.migrate()
    _history(db, days, visits)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return db, schema


def run(argv: list[str]) -> int:
    """Build the history, time both paths, print the table; 1 if the documents differ."""
    parser = argparse.ArgumentParser(prog="nfc-hospital bench analytics", description=__doc__)
    parser.add_argument("--visits", type=int, default=12_000, help="visits a day (12000)")
    parser.add_argument("--days", type=int, default=31, help="days of history (31)")
    parser.add_argument("--pg-url", help="also on PostgreSQL, e.g. postgresql://postgres@host/db")
    parser.add_argument(
        "--sqlite-path",
        type=Path,
        help="keep the SQLite history in this file, or reuse it if built there before",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (CI)")
    args = parser.parse_args(argv)
    visits, n_days = (300, 7) if args.quick else (args.visits, args.days)
    ranges = [n for n in (1, 7, 31) if n <= n_days]
    days = [TODAY - timedelta(days=n_days - i) for i in range(n_days)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {n_days} simulated days x ~{visits:,} visits, "
        f"ending {days[-1]}"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="nfch-bench-analytics-") as tmp:
        path = args.sqlite_path or Path(tmp) / "central.db"
        reuse = path.exists()
        db = Database(str(path))
        db.migrate()
        if args.no_sqlite:
            pass
        elif reuse:
            print(f"sqlite: history reused from {path}: {_sizes(db)}", flush=True)
        else:
            build_s, _ = _timed(lambda: _history(db, days, visits))
            print(f"sqlite: history built in {build_s:.0f} s: {_sizes(db)}", flush=True)
        if not args.no_sqlite:
            ok &= _measure(db, "sqlite", ranges)
            print(f"sqlite: {_sizes(db)}; database {path.stat().st_size / 1e6:.0f} MB")
        db.dispose()
    if args.pg_url:
        pg, schema = _pg(args.pg_url, days, visits)
        try:
            ok &= _measure(pg, "postgres", ranges)
            print(f"postgres: {_sizes(pg)}")
        finally:
            pg.dispose()
            admin = Database(args.pg_url)
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    return 0 if ok else 1
