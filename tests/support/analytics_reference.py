"""The analytics as computed before per-day summaries existed (central/web/analytics.py at
commit d223960): one pass over all the selection's audit rows, oldest first. Kept unchanged
as the reference the summaries must match exactly."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from central.web.analytics import CSV_COLUMNS, Row

BOTTLENECK_WINDOW = timedelta(minutes=30)


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


def reference_csv(rows: list[Row], now: datetime, today: date, tz: ZoneInfo) -> list[list[Any]]:
    """The CSV rows as computed before: each day alone, live for today."""
    by_day: dict[date, list[Row]] = defaultdict(list)
    for r in rows:
        assert r.day is not None
        by_day[r.day].append(r)
    out: list[list[Any]] = []
    for day in sorted(by_day):
        doc = reference(by_day[day], now, tz, live=day == today)
        for room in doc["rooms"]:
            cells = ("" if room[c] is None else room[c] for c in CSV_COLUMNS)
            out.append([day.isoformat(), *cells])
    return out
