"""Analytics from the audit log for today, a past day or a range of days: waits and service
times per room and hour, throughput, no-show rate, the trend per day, and (for a selection
that includes today) the current bottleneck; as JSON for the dashboard's charts and as CSV
(one row per room per day). Read-only; computed on demand; today's figures are cached for a
short while, past days' (which no longer change) for longer."""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from central.api.errors import InvalidInput
from central.auth.http import require_staff
from central.auth.roles import Action
from central.engine import Engine
from central.store.schema import audit_log
from central.web.staff import ENGINE_KEY

CACHE_S = 15.0
BOTTLENECK_WINDOW = timedelta(minutes=30)


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


def compute(rows: list[Row], now: datetime, tz: ZoneInfo, *, live: bool = True) -> dict[str, Any]:
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
    recent = now - BOTTLENECK_WINDOW
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


def _rate(no_shows: int, completed: int) -> float | None:
    ended = no_shows + completed
    return round(no_shows / ended, 3) if ended else None


MAX_RANGE_DAYS = 31
PAST_CACHE_S = 600.0
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
        )
        .where(audit_log.c.service_day >= first, audit_log.c.service_day <= last)
        .order_by(audit_log.c.audit_id)
    )
    with engine.db.read() as conn:
        return [
            Row(r.at, r.visit_id, r.action, r.to_state, r.room_id, r.service_day)
            for r in conn.execute(q)
        ]


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


_CACHE: web.AppKey[dict[tuple[date, date], tuple[float, dict[str, Any]]]] = web.AppKey(
    "nfch_analytics"
)


async def _figures(request: web.Request) -> dict[str, Any]:
    engine = request.app[ENGINE_KEY]
    today = await asyncio.to_thread(engine.service_day)
    first, last = selection(request, today)
    cache = request.app[_CACHE]
    hit = cache.get((first, last))
    ttl = CACHE_S if last >= today else PAST_CACHE_S
    if hit is not None and time.monotonic() - hit[0] < ttl:
        return hit[1]

    def build() -> dict[str, Any]:
        now = engine.clock.now()
        doc = compute(
            read_rows(engine, first, last),
            now,
            ZoneInfo(engine.site.timezone),
            live=last >= today,
        )
        doc["service_day"] = last.isoformat()
        doc["from"], doc["to"] = first.isoformat(), last.isoformat()
        doc["today"] = today.isoformat()
        return doc

    doc = await asyncio.to_thread(build)
    if len(cache) > 64:
        cache.clear()
    cache[(first, last)] = (time.monotonic(), doc)
    return doc


async def analytics(request: web.Request) -> web.Response:
    """GET /staff/api/analytics[?from=YYYY-MM-DD&to=YYYY-MM-DD]: figures of the selection
    (today by default; at most MAX_RANGE_DAYS days)."""
    await require_staff(request, Action.ANALYTICS_READ)
    return web.json_response(await _figures(request))


def csv_rows(engine: Engine, first: date, last: date, today: date) -> list[list[Any]]:
    """One row per room per service day of the selection."""
    by_day: dict[date, list[Row]] = defaultdict(list)
    for r in read_rows(engine, first, last):
        assert r.day is not None
        by_day[r.day].append(r)
    now = engine.clock.now()
    tz = ZoneInfo(engine.site.timezone)
    out: list[list[Any]] = []
    for day in sorted(by_day):
        doc = compute(by_day[day], now, tz, live=day == today)
        for room in doc["rooms"]:
            cells = ("" if room[c] is None else room[c] for c in CSV_COLUMNS)
            out.append([day.isoformat(), *cells])
    return out


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
    app[_CACHE] = {}
    app.router.add_get("/staff/api/analytics", analytics, name="staff_analytics")
    app.router.add_get("/staff/api/analytics.csv", analytics_csv, name="staff_analytics_csv")
