"""Today's analytics from the audit log: waits and service times per room and hour,
throughput, no-show rate and the current bottleneck, as JSON for the dashboard's charts and
as CSV. Read-only; computed on demand and cached for a short while."""

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


def compute(rows: list[Row], now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """Per room and per hour figures from one day's audit rows (oldest first).

    A wait runs from entering a room's line (any transition to WAITING with a room) to the
    first call after it; a service from `start` to `complete`.
    """
    rooms: dict[str, _Room] = defaultdict(_Room)
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
        elif r.action == "no_show":
            room.no_shows += 1
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
                "growth_30min": s.arrivals_recent - s.calls_recent,
            }
        )
    growing = sorted((g for g in growth.items() if g[1] > 0), key=lambda g: (-g[1], g[0]))
    all_waits = [w for s in rooms.values() for w in s.waits]
    completed = sum(s.completed for s in rooms.values())
    no_shows = sum(s.no_shows for s in rooms.values())
    return {
        "generated_at": now.isoformat(),
        "totals": {
            "completed": completed,
            "no_shows": no_shows,
            "no_show_rate": round(no_shows / (completed + no_shows), 3)
            if completed + no_shows
            else None,
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
        "bottlenecks": [room_id for room_id, _ in growing[:3]],
    }


def read_rows(engine: Engine, day: date) -> list[Row]:
    q = (
        select(
            audit_log.c.at,
            audit_log.c.visit_id,
            audit_log.c.action,
            audit_log.c.to_state,
            audit_log.c.room_id,
        )
        .where(audit_log.c.service_day == day)
        .order_by(audit_log.c.audit_id)
    )
    with engine.db.read() as conn:
        return [Row(r.at, r.visit_id, r.action, r.to_state, r.room_id) for r in conn.execute(q)]


_CACHE: web.AppKey[dict[str, tuple[float, dict[str, Any]]]] = web.AppKey("nfch_analytics")


async def _figures(request: web.Request) -> dict[str, Any]:
    engine = request.app[ENGINE_KEY]
    cache = request.app[_CACHE]
    hit = cache.get("today")
    if hit is not None and time.monotonic() - hit[0] < CACHE_S:
        return hit[1]

    def build() -> dict[str, Any]:
        now = engine.clock.now()
        day = engine.service_day()
        doc = compute(read_rows(engine, day), now, ZoneInfo(engine.site.timezone))
        doc["service_day"] = day.isoformat()
        return doc

    doc = await asyncio.to_thread(build)
    cache["today"] = (time.monotonic(), doc)
    return doc


async def analytics(request: web.Request) -> web.Response:
    """GET /staff/api/analytics: today's figures."""
    await require_staff(request, Action.ANALYTICS_READ)
    return web.json_response(await _figures(request))


async def analytics_csv(request: web.Request) -> web.Response:
    """GET /staff/api/analytics.csv: the per-room table for a spreadsheet."""
    await require_staff(request, Action.ANALYTICS_READ)
    doc = await _figures(request)
    out = io.StringIO()
    w = csv.writer(out)
    cols = [
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
    w.writerow(["service_day", *cols])
    for r in doc["rooms"]:
        w.writerow([doc["service_day"], *("" if r[c] is None else r[c] for c in cols)])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="nfch-rooms-{doc["service_day"]}.csv"'
        },
    )


def install(app: web.Application) -> None:
    app[_CACHE] = {}
    app.router.add_get("/staff/api/analytics", analytics, name="staff_analytics")
    app.router.add_get("/staff/api/analytics.csv", analytics_csv, name="staff_analytics_csv")
