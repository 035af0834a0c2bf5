"""Analytics for today, a past day or a range of days: waits and service times per room and
hour, throughput, no-show rate, the trend per day, and (for a selection that includes today)
the current bottleneck; as JSON for the dashboard's charts and as CSV (one row per room per
day). Read-only for the queues.

A closed (past) service day is summarized once from the audit log into `analytics_days` and
`analytics_room_hours` (per room and local hour: completions, no-shows, and every wait and
service time in microseconds): by a task of the server soon after the engine rolls past the
day, or else by the first request that needs it. Later requests read the summary, so a
31-day range costs what its summaries cost, not a month of audit rows. Each
summary records the day's last audit row it covers: a later row of that day (yesterday's exam
completed this morning) makes it stale and it is computed again. Today is computed from the
audit log as it is now (cached for a few seconds). The figures are exactly those of one pass
over the selection's audit rows: a visit's rows all carry its service day, so no wait or
service spans two days, and medians and p90 are taken over the stored values themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from aiohttp import web
from numpy.typing import NDArray
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from central.api.errors import InvalidInput
from central.auth.http import require_staff
from central.auth.roles import Action
from central.engine import Engine
from central.store.schema import analytics_days, analytics_room_hours, audit_log, site_state
from central.web.staff import ENGINE_KEY

log = logging.getLogger("central.web.analytics")

CACHE_S = 15.0
FILL_FIRST_S = 60.0
"""Seconds after start before the summaries of the last closed days are filled."""
FILL_EVERY_S = 300.0
"""Seconds between checks for a day that closed (or a summary gone stale) since."""
BOTTLENECK_WINDOW = timedelta(minutes=30)
MAX_RANGE_DAYS = 31
_US = timedelta(microseconds=1)
_INT64 = np.dtype("<i8")


@dataclass(frozen=True, slots=True)
class Row:
    """What analytics needs of one audit row."""

    at: datetime
    visit_id: str
    action: str
    to_state: str
    room_id: str | None
    day: date | None = None
    """The service day (when rows of several days are given)."""
    audit_id: int = 0


Micros = list[int] | NDArray[np.int64]
"""Durations in microseconds, sorted (a list when computed, an array when read back)."""


@dataclass(slots=True)
class Cell:
    """One room in one local hour of one service day."""

    completed: int = 0
    no_shows: int = 0
    waits: Micros = field(default_factory=list)
    """Waits ended by a call in this hour (line to call)."""
    services: Micros = field(default_factory=list)
    """Services completed in this hour (start to complete)."""


@dataclass(slots=True)
class _Building:
    completed: int = 0
    no_shows: int = 0
    waits: list[int] = field(default_factory=list)
    services: list[int] = field(default_factory=list)


DaySummary = dict[tuple[str, int], Cell]
"""A day's cells by (room, local hour); a room with any audit row that day has a cell."""


def summarize(rows: Iterable[Row], tz: ZoneInfo) -> DaySummary:
    """One service day's audit rows (oldest first) per room and local hour.

    A wait runs from entering a room's line (any transition to WAITING with a room, but a
    missed call's requeue) to the first call after it; a service from `start` to `complete`
    in the same room. Rows of several days give the same result as each day alone, since a
    visit belongs to one day.
    """
    cells: dict[tuple[str, int], _Building] = {}
    waiting_since: dict[tuple[str, str], datetime] = {}
    started: dict[str, tuple[str, datetime]] = {}
    for r in rows:
        room_id = r.room_id
        if room_id is None:
            continue
        key = (room_id, r.at.astimezone(tz).hour)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _Building()
        action = r.action
        if r.to_state == "WAITING" and action != "miss":
            waiting_since.setdefault((r.visit_id, room_id), r.at)
        if action == "call":
            since = waiting_since.pop((r.visit_id, room_id), None)
            if since is not None:
                cell.waits.append((r.at - since) // _US)
        elif action == "start":
            started[r.visit_id] = (room_id, r.at)
        elif action == "complete":
            begun = started.pop(r.visit_id, None)
            if begun is not None and begun[0] == room_id:
                cell.services.append((r.at - begun[1]) // _US)
            cell.completed += 1
        elif action == "no_show":
            cell.no_shows += 1
        elif action in ("cancel", "transfer"):
            waiting_since.pop((r.visit_id, room_id), None)
    return {
        key: Cell(c.completed, c.no_shows, sorted(c.waits), sorted(c.services))
        for key, c in cells.items()
    }


def line_growth(rows: Iterable[Row], since: datetime) -> dict[str, int]:
    """Per room: patients who joined its line minus patients called, in rows from `since`."""
    growth: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.room_id is None or r.at < since:
            continue
        if r.to_state == "WAITING" and r.action != "miss":
            growth[r.room_id] += 1
        if r.action == "call":
            growth[r.room_id] -= 1
    return growth


def _joined(runs: list[Micros]) -> NDArray[np.int64]:
    if len(runs) == 1:
        return np.asarray(runs[0], dtype=np.int64)
    return np.concatenate([np.asarray(r, dtype=np.int64) for r in runs])


def _minutes(us: float) -> float:
    return round(us / 60, 1)


def _stats(runs: list[Micros], p90: bool = False) -> tuple[float | None, float | None]:
    """Median (statistics.median of the values in seconds) and, if asked, 90th percentile
    (the value at index int(0.9 n) in order) of the values of `runs`, in minutes to 0.1.
    Only the order statistics needed are found (np.partition), each converted exactly as
    timedelta.total_seconds() would (an exactly-held integer divided by 10**6)."""
    values = _joined(runs) if runs else np.empty(0, dtype=np.int64)
    n = len(values)
    if not n:
        return None, None
    mid = n // 2
    at90 = min(n - 1, int(0.9 * n))
    ranks = sorted({mid, mid - 1 if n % 2 == 0 else mid, at90 if p90 else mid})
    part = np.partition(values, ranks) if n > 1 else values

    def seconds(i: int) -> float:
        return int(part[i]) / 1_000_000

    median = seconds(mid) if n % 2 else (seconds(mid - 1) + seconds(mid)) / 2
    return _minutes(median), _minutes(seconds(at90)) if p90 else None


def _rate(no_shows: int, completed: int) -> float | None:
    ended = no_shows + completed
    return round(no_shows / ended, 3) if ended else None


@dataclass(slots=True)
class _Sum:
    completed: int = 0
    no_shows: int = 0
    waits: list[Micros] = field(default_factory=list)
    services: list[Micros] = field(default_factory=list)

    def add(self, cell: Cell) -> None:
        self.completed += cell.completed
        self.no_shows += cell.no_shows
        if len(cell.waits):
            self.waits.append(cell.waits)
        if len(cell.services):
            self.services.append(cell.services)


def figures(
    days: Mapping[date | None, DaySummary], now: datetime, growth: Mapping[str, int] | None
) -> dict[str, Any]:
    """The analytics document of the given days' summaries (a None day: rows without a
    service day, left out of the per-day trend). `growth`: each room's line growth over the
    last 30 minutes when the selection includes today (then the bottleneck is the fastest
    growing line); None for past days only."""
    rooms: dict[str, _Sum] = defaultdict(_Sum)
    hours: dict[int, _Sum] = defaultdict(_Sum)
    per_day: dict[date, _Sum] = {}
    for day, cells in days.items():
        day_sum = _Sum()
        for (room_id, hour), cell in cells.items():
            rooms[room_id].add(cell)
            if cell.completed or len(cell.waits):
                hours[hour].add(cell)
            day_sum.add(cell)
        if day is not None and (day_sum.completed or day_sum.no_shows or day_sum.waits):
            per_day[day] = day_sum
    per_room: list[dict[str, Any]] = []
    for room_id, s in sorted(rooms.items()):
        wait_median, wait_p90 = _stats(s.waits, p90=True)
        ended = s.completed + s.no_shows
        per_room.append(
            {
                "room_id": room_id,
                "completed": s.completed,
                "no_shows": s.no_shows,
                "no_show_rate": round(s.no_shows / ended, 3) if ended else None,
                "waits": sum(len(w) for w in s.waits),
                "wait_median_min": wait_median,
                "wait_p90_min": wait_p90,
                "service_median_min": _stats(s.services)[0],
                "growth_30min": growth.get(room_id, 0) if growth is not None else None,
            }
        )
    growing = sorted(
        ((r["room_id"], r["growth_30min"]) for r in per_room if (r["growth_30min"] or 0) > 0),
        key=lambda g: (-g[1], g[0]),
    )
    completed = sum(s.completed for s in rooms.values())
    no_shows = sum(s.no_shows for s in rooms.values())
    return {
        "generated_at": now.isoformat(),
        "totals": {
            "completed": completed,
            "no_shows": no_shows,
            "no_show_rate": _rate(no_shows, completed),
            "wait_median_min": _stats([w for s in rooms.values() for w in s.waits])[0],
        },
        "rooms": per_room,
        "hours": [
            {
                "hour": h,
                "completed": hours[h].completed,
                "wait_median_min": _stats(hours[h].waits)[0],
            }
            for h in sorted(hours)
        ],
        "days": [
            {
                "day": d.isoformat(),
                "completed": per_day[d].completed,
                "no_shows": per_day[d].no_shows,
                "no_show_rate": _rate(per_day[d].no_shows, per_day[d].completed),
                "wait_median_min": _stats(per_day[d].waits)[0],
            }
            for d in sorted(per_day)
        ],
        "bottlenecks": [room_id for room_id, _ in growing[:3]],
    }


def compute(rows: list[Row], now: datetime, tz: ZoneInfo, *, live: bool = True) -> dict[str, Any]:
    """Figures straight from audit rows (oldest first), of one or several days. `live`: the
    rows include today, so line growth over the last 30 minutes (and the bottleneck) mean
    something; otherwise they are None and empty."""
    by_day: dict[date | None, list[Row]] = defaultdict(list)
    for r in rows:
        by_day[r.day].append(r)
    days = {d: summarize(day_rows, tz) for d, day_rows in by_day.items()}
    growth = line_growth(rows, now - BOTTLENECK_WINDOW) if live else None
    return figures(days, now, growth)


# ------------------------------------------------------------------ the audit log


def read_rows(engine: Engine, first: date, last: date | None = None) -> list[Row]:
    """Audit rows of the service days `first`..`last` (inclusive; `last` defaults to `first`),
    in commit order (the `ix_audit_day` index serves this)."""
    last = last or first
    q = (
        select(
            audit_log.c.at,
            audit_log.c.visit_id,
            audit_log.c.action,
            audit_log.c.to_state,
            audit_log.c.room_id,
            audit_log.c.service_day,
            audit_log.c.audit_id,
        )
        .where(audit_log.c.service_day >= first, audit_log.c.service_day <= last)
        .order_by(audit_log.c.audit_id)
    )
    with engine.db.read() as conn:
        return [Row(*r) for r in conn.execute(q)]


# ------------------------------------------------------------------ summaries of closed days


@dataclass(slots=True)
class Stored:
    """A closed day's summary: computed through audit row `through` (0: the day had none)."""

    through: int
    last_at: datetime | None
    """The newest `at` among the rows summarized (a late row may be within the last 30
    minutes, where the bottleneck looks)."""
    cells: DaySummary


def day_marks(conn: Connection, days: Iterable[date]) -> dict[date, int]:
    """Each day's newest audit row id (0 for none): one statement, one index lookup per
    day (`ix_audit_day`)."""
    days = list(days)
    if not days:
        return {}
    marks = [
        select(func.max(audit_log.c.audit_id))
        .where(audit_log.c.service_day == bindparam(f"d{i}", d))
        .scalar_subquery()
        for i, d in enumerate(days)
    ]
    row = conn.execute(select(*marks)).one()
    return {d: mark or 0 for d, mark in zip(days, row, strict=True)}


def load_summaries(conn: Connection, first: date, last: date) -> dict[date, Stored]:
    """The stored summaries of `first`..`last` (days without one are missing)."""
    d, rh = analytics_days, analytics_room_hours
    q = (
        select(
            d.c.service_day,
            d.c.through_audit_id,
            d.c.last_at,
            rh.c.room_id,
            rh.c.hour,
            rh.c.completed,
            rh.c.no_shows,
            rh.c.waits_us,
            rh.c.services_us,
        )
        .select_from(d.outerjoin(rh, rh.c.service_day == d.c.service_day))
        .where(d.c.service_day >= first, d.c.service_day <= last)
    )
    out: dict[date, Stored] = {}
    for day, through, last_at, room_id, hour, completed, no_shows, waits, services in conn.execute(
        q
    ):
        stored = out.get(day)
        if stored is None:
            stored = out[day] = Stored(through, last_at, {})
        if room_id is not None:
            stored.cells[(room_id, hour)] = Cell(
                completed,
                no_shows,
                np.frombuffer(waits, dtype=_INT64),
                np.frombuffer(services, dtype=_INT64),
            )
    return out


def _insert_ignore(conn: Connection, values: dict[str, Any]) -> bool:
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = mod.insert(analytics_days).values(**values).on_conflict_do_nothing()
    return conn.execute(stmt.returning(analytics_days.c.service_day)).first() is not None


def store_summary(conn: Connection, day: date, stored: Stored, now: datetime) -> bool:
    """Write a closed day's summary unless the same one is there already; False when another
    worker's identical summary won. Any number of workers may race: the day's row is inserted
    (or ignored), then replaced only if it covers other audit rows; the cells go with it in
    the same transaction."""
    values = {
        "service_day": day,
        "through_audit_id": stored.through,
        "last_at": stored.last_at,
        "computed_at": now,
    }
    if not _insert_ignore(conn, values):
        replaced = conn.execute(
            update(analytics_days)
            .where(
                analytics_days.c.service_day == day,
                analytics_days.c.through_audit_id != stored.through,
            )
            .values(**values)
            .returning(analytics_days.c.service_day)
        ).first()
        if replaced is None:
            return False
        conn.execute(delete(analytics_room_hours).where(analytics_room_hours.c.service_day == day))
    if stored.cells:
        conn.execute(
            insert(analytics_room_hours),
            [
                {
                    "service_day": day,
                    "room_id": room_id,
                    "hour": hour,
                    "completed": c.completed,
                    "no_shows": c.no_shows,
                    "waits_us": np.asarray(c.waits, dtype=_INT64).tobytes(),
                    "services_us": np.asarray(c.services, dtype=_INT64).tobytes(),
                }
                for (room_id, hour), c in sorted(stored.cells.items())
            ],
        )
    return True


def summarize_day(engine: Engine, day: date, tz: ZoneInfo) -> Stored:
    """A closed day's summary from its audit rows, stored for the next request."""
    rows = read_rows(engine, day)
    stored = Stored(rows[-1].audit_id if rows else 0, max((r.at for r in rows), default=None), {})
    stored.cells = summarize(rows, tz)
    engine.db.run_write(lambda conn: store_summary(conn, day, stored, engine.clock.now()))
    return stored


def closed_days(engine: Engine, days: list[date], tz: ZoneInfo) -> dict[date, Stored]:
    """Summaries of the given past days (oldest first), computing and storing those missing
    or stale (the day has audit rows the summary does not cover)."""
    if not days:
        return {}
    with engine.db.read() as conn:
        marks = day_marks(conn, days)
        stored = load_summaries(conn, days[0], days[-1])
    for day in days:
        s = stored.get(day)
        if s is None or s.through != marks[day]:
            stored[day] = summarize_day(engine, day, tz)
    return stored


def fill_closed_days(engine: Engine, days: int = MAX_RANGE_DAYS) -> list[date]:
    """Summarize the last `days` closed service days that have no summary or a stale one,
    so nobody waits for them; returns the days computed. A day counts as closed once the
    engine has rolled past it (its end-of-day cancellations are written)."""
    tz = ZoneInfo(engine.site.timezone)
    with engine.db.read() as conn:
        rolled = conn.execute(
            select(site_state.c.value).where(site_state.c.key == "service_day")
        ).scalar()
    if rolled is None:
        return []
    last = min(date.fromisoformat(rolled), engine.service_day()) - timedelta(days=1)
    done = []
    for day in reversed(span(last - timedelta(days=days - 1), last)):  # yesterday first
        # Checked just before each day: another worker may have done it meanwhile.
        with engine.db.read() as conn:
            mark = day_marks(conn, [day])[day]
            have = conn.execute(
                select(analytics_days.c.through_audit_id).where(analytics_days.c.service_day == day)
            ).scalar()
        if mark and have != mark:
            summarize_day(engine, day, tz)
            done.append(day)
    return done


def filling(engine: Engine) -> Any:
    """cleanup_ctx: a task, owned by the app's lifetime, that fills the summaries of days
    as they close (`fill_closed_days` every FILL_EVERY_S). Not essential: a failed round is
    logged, the next one tries again, and a request computes a missing day itself."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            # Workers started together should not all summarize the same days at once.
            await asyncio.sleep(FILL_FIRST_S * (1 + random.random()))
            while True:
                # Shielded: when the app stops mid-round, the round in the thread finishes
                # before the task ends, so the database is not closed under it (a connection
                # checked out then would be left open).
                round_ = asyncio.ensure_future(asyncio.to_thread(fill_closed_days, engine))
                try:
                    try:
                        done = await asyncio.shield(round_)
                    except asyncio.CancelledError:
                        with contextlib.suppress(Exception):
                            await round_
                        raise
                    if done:
                        log.info("analytics.days_summarized days=%s", ",".join(map(str, done)))
                except Exception:
                    log.exception("analytics.fill_failed")
                await asyncio.sleep(FILL_EVERY_S)

        task = asyncio.create_task(loop(), name="analytics-fill")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


def span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build(engine: Engine, first: date, last: date, today: date, now: datetime) -> dict[str, Any]:
    """The analytics document of `first`..`last` (`last` at most `today`)."""
    tz = ZoneInfo(engine.site.timezone)
    past = closed_days(engine, span(first, min(last, today - timedelta(days=1))), tz)
    days: dict[date | None, DaySummary] = {d: s.cells for d, s in past.items()}
    growth: dict[str, int] | None = None
    if last >= today:
        rows = read_rows(engine, today)
        days[today] = summarize(rows, tz)
        recent = now - BOTTLENECK_WINDOW
        growth = line_growth(rows, recent)
        for day, s in past.items():  # a past day's row written lately (rare)
            if s.last_at is not None and s.last_at >= recent:
                for room_id, n in line_growth(read_rows(engine, day), recent).items():
                    growth[room_id] += n
    doc = figures(days, now, growth)
    doc["service_day"] = last.isoformat()
    doc["from"], doc["to"] = first.isoformat(), last.isoformat()
    doc["today"] = today.isoformat()
    return doc


def csv_rows(engine: Engine, first: date, last: date, today: date) -> list[list[Any]]:
    """One row per room per service day of the selection."""
    tz = ZoneInfo(engine.site.timezone)
    now = engine.clock.now()
    days = {
        d: s.cells
        for d, s in closed_days(
            engine, span(first, min(last, today - timedelta(days=1))), tz
        ).items()
    }
    out: list[list[Any]] = []
    for day in sorted(days):
        for room in figures({day: days[day]}, now, None)["rooms"]:
            out.append([day.isoformat(), *_cells(room)])
    if last >= today:
        rows = read_rows(engine, today)
        doc = figures({today: summarize(rows, tz)}, now, line_growth(rows, now - BOTTLENECK_WINDOW))
        for room in doc["rooms"]:
            out.append([today.isoformat(), *_cells(room)])
    return out


# ------------------------------------------------------------------ HTTP

CSV_COLUMNS = [
    "room_id",
    "completed",
    "no_shows",
    "no_show_rate",
    "waits",
    "wait_median_min",
    "wait_p90_min",
    "service_median_min",
    "growth_30min",
]


def _cells(room: dict[str, Any]) -> list[Any]:
    return ["" if room[c] is None else room[c] for c in CSV_COLUMNS]


def _day_param(request: web.Request, name: str, default: date) -> date:
    text = request.query.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text[:20]!r} is not a date (YYYY-MM-DD)", f"query.{name}") from None


def selection(request: web.Request, today: date) -> tuple[date, date]:
    """The days asked for (`from`, `to`, inclusive; both default to today), validated."""
    first = _day_param(request, "from", today)
    last = _day_param(request, "to", first if "from" in request.query else today)
    if last < first:
        raise InvalidInput(f"'to' ({last}) is before 'from' ({first})", "query.to")
    if last > today:
        raise InvalidInput(f"{last} has not happened yet (today is {today})", "query.to")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(
            f"at most {MAX_RANGE_DAYS} days at a time ({first} to {last} is "
            f"{(last - first).days + 1})",
            "query.from",
        )
    return first, last


_Cached = tuple[float, tuple[int, ...], dict[str, Any]]


class Figures:
    """The documents served, cached in memory: a selection with today for CACHE_S seconds;
    one of past days as long as none of its days got a new audit row (checked per request,
    one index lookup per day)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cache: dict[tuple[date, date], _Cached] = {}

    def get(self, first: date, last: date, today: date) -> dict[str, Any]:
        hit = self.cache.get((first, last))
        if last >= today:
            marks: tuple[int, ...] = ()
            if hit is not None and time.monotonic() - hit[0] < CACHE_S:
                return hit[2]
        else:
            with self.engine.db.read() as conn:
                marks = tuple(day_marks(conn, span(first, last)).values())
            if hit is not None and hit[1] == marks:
                return hit[2]
        doc = build(self.engine, first, last, today, self.engine.clock.now())
        if len(self.cache) > 64:
            self.cache.clear()
        self.cache[(first, last)] = (time.monotonic(), marks, doc)
        return doc


_FIGURES: web.AppKey[Figures] = web.AppKey("nfch_analytics_figures")


async def analytics(request: web.Request) -> web.Response:
    """GET /staff/api/analytics[?from=YYYY-MM-DD&to=YYYY-MM-DD]: figures of the selection
    (today by default; at most MAX_RANGE_DAYS days)."""
    await require_staff(request, Action.ANALYTICS_READ)
    engine = request.app[ENGINE_KEY]
    today = await asyncio.to_thread(engine.service_day)
    first, last = selection(request, today)
    return web.json_response(await asyncio.to_thread(request.app[_FIGURES].get, first, last, today))


async def analytics_csv(request: web.Request) -> web.Response:
    """GET /staff/api/analytics.csv[?from=&to=]: per room per day, for a spreadsheet."""
    await require_staff(request, Action.ANALYTICS_READ)
    engine = request.app[ENGINE_KEY]
    today = await asyncio.to_thread(engine.service_day)
    first, last = selection(request, today)
    rows = await asyncio.to_thread(csv_rows, engine, first, last, today)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["service_day", *CSV_COLUMNS])
    w.writerows(rows)
    name = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="nfch-rooms-{name}.csv"'},
    )


def install(app: web.Application) -> None:
    """Add the analytics routes and the task filling closed days' summaries;
    `app[ENGINE_KEY]` must be set (staff.install) first."""
    app[_FIGURES] = Figures(app[ENGINE_KEY])
    app.cleanup_ctx.append(filling(app[ENGINE_KEY]))
    app.router.add_get("/staff/api/analytics", analytics, name="staff_analytics")
    app.router.add_get("/staff/api/analytics.csv", analytics_csv, name="staff_analytics_csv")
