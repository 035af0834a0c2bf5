"""The day's figures: visits by outcome, taps, waits and queue lengths by room."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from central.sim import events as ev
from central.sim.events import SimEvent


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..1)."""
    if not sorted_values:
        return 0.0
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass(slots=True)
class _RoomFigures:
    waits: list[float] = field(default_factory=list)
    waiting: int = 0
    max_waiting: int = 0
    served: int = 0


class Summary:
    """Collects the figures as events go by (an `Observer`)."""

    def __init__(self) -> None:
        self.visits: Counter[str] = Counter()
        self.taps: Counter[str] = Counter()
        self.arrivals_by_hour: Counter[int] = Counter()
        self.rooms: dict[str, _RoomFigures] = defaultdict(_RoomFigures)
        self._joined: dict[str, float] = {}
        self._seen: set[str] = set()
        self.first_t: float | None = None
        self.last_t = 0.0
        self.events = 0

    def on_event(self, e: SimEvent) -> None:
        self.events += 1
        if self.first_t is None:
            self.first_t = e.t
        self.last_t = e.t
        self._seen.add(e.visit_id)
        kind = e.kind
        if kind == ev.ARRIVE:
            self.arrivals_by_hour[int(e.t // 3600) % 24] += 1
        elif kind == ev.TAP:
            self.taps[e.detail or "tap"] += 1
        elif kind == ev.CHECK_IN:
            assert e.room_id is not None
            self.taps["check_in"] += 1
            self._joined[e.visit_id] = e.t
            self._enter(e.room_id)
        elif kind == ev.CALL:
            assert e.room_id is not None
            self.rooms[e.room_id].waiting -= 1
            joined = self._joined.pop(e.visit_id, None)
            if joined is not None:
                self.rooms[e.room_id].waits.append(e.t - joined)
        elif kind == ev.MISS:
            assert e.room_id is not None
            self._enter(e.room_id)
        elif kind == ev.COMPLETE:
            assert e.room_id is not None
            self.rooms[e.room_id].served += 1
        elif kind in ev.VISIT_ENDS:
            self.visits[kind] += 1
            if kind == ev.CANCEL and e.visit_id in self._joined and e.room_id:
                self.rooms[e.room_id].waiting -= 1
                del self._joined[e.visit_id]

    def _enter(self, room_id: str) -> None:
        room = self.rooms[room_id]
        room.waiting += 1
        room.max_waiting = max(room.max_waiting, room.waiting)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (waits in seconds)."""
        all_waits = sorted(w for r in self.rooms.values() for w in r.waits)
        rooms: dict[str, Any] = {}
        for room_id in sorted(self.rooms):
            r = self.rooms[room_id]
            w = sorted(r.waits)
            rooms[room_id] = {
                "served": r.served,
                "calls_waited": len(w),
                "wait_mean_s": round(sum(w) / len(w), 1) if w else 0.0,
                "wait_p50_s": round(percentile(w, 0.5), 1),
                "wait_p90_s": round(percentile(w, 0.9), 1),
                "wait_max_s": round(w[-1], 1) if w else 0.0,
                "max_queue": r.max_waiting,
            }
        return {
            "events": self.events,
            "visits": {
                "total": len(self._seen),
                "finished": self.visits[ev.FINISH],
                "no_show": self.visits[ev.NO_SHOW],
                "cancelled": self.visits[ev.CANCEL],
            },
            "taps": dict(sorted(self.taps.items())),
            "arrivals_by_hour": {str(h): n for h, n in sorted(self.arrivals_by_hour.items())},
            "waits": {
                "count": len(all_waits),
                "mean_s": round(sum(all_waits) / len(all_waits), 1) if all_waits else 0.0,
                "p50_s": round(percentile(all_waits, 0.5), 1),
                "p90_s": round(percentile(all_waits, 0.9), 1),
                "max_s": round(all_waits[-1], 1) if all_waits else 0.0,
            },
            "rooms": rooms,
        }


def render_table(summary: dict[str, Any]) -> str:
    """A short text table of a summary (waits in minutes)."""
    v, w = summary["visits"], summary["waits"]
    lines = [
        f"visits {v['total']}: finished {v['finished']}, no-show {v['no_show']}, "
        f"cancelled {v['cancelled']}",
        "taps: " + ", ".join(f"{k} {n}" for k, n in summary["taps"].items()),
        f"waits (min): mean {w['mean_s'] / 60:.1f}  p50 {w['p50_s'] / 60:.1f}  "
        f"p90 {w['p90_s'] / 60:.1f}  max {w['max_s'] / 60:.1f}",
        "",
        f"{'room':<12} {'served':>6} {'mean':>6} {'p50':>6} {'p90':>6} {'max':>6} {'maxQ':>5}",
    ]
    for room_id, r in summary["rooms"].items():
        lines.append(
            f"{room_id:<12} {r['served']:>6} {r['wait_mean_s'] / 60:>6.1f} "
            f"{r['wait_p50_s'] / 60:>6.1f} {r['wait_p90_s'] / 60:>6.1f} "
            f"{r['wait_max_s'] / 60:>6.1f} {r['max_queue']:>5}"
        )
    return "\n".join(lines) + "\n"
