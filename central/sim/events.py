"""What the simulation reports: one `SimEvent` per tap, check-in, call, start, completion ..."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Protocol

# Event kinds, in the order a step usually goes through them.
ARRIVE = "arrive"  # the patient entered the hospital
TAP = "tap"  # a tap that changed nothing (detail: already_waiting, wrong_station, ...)
CHECK_IN = "check_in"  # a tap that queued the patient (position = place in line)
CALL = "call"  # staff called the patient to a desk
MISS = "miss"  # nobody came: back in line
START = "start"  # the patient is at the desk: service begins
COMPLETE = "complete"  # the step is done
FINISH = "finish"  # the visit is over
NO_SHOW = "no_show"  # the visit ended without the patient (never came, or missed the calls)
CANCEL = "cancel"  # the day was cut off with the visit still open

VISIT_ENDS = (FINISH, NO_SHOW, CANCEL)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """Something that happened at simulated time `t` (seconds since local midnight)."""

    t: float
    kind: str
    visit_id: str
    room_id: str | None = None
    desk: int | None = None
    position: int | None = None
    """CHECK_IN: 1 = next to be called."""
    priority: int | None = None
    detail: str | None = None


class Observer(Protocol):
    """Receives every event in time order (summary, event log, estimator, evaluation)."""

    def on_event(self, event: SimEvent) -> None: ...


class EventLog:
    """Writes events as JSON lines with simulated wall-clock timestamps."""

    def __init__(self, out: IO[str], midnight: datetime) -> None:
        self._out = out
        self._midnight = midnight
        self.lines = 0

    def on_event(self, event: SimEvent) -> None:
        record: dict[str, object] = {
            "at": (self._midnight + timedelta(seconds=event.t)).isoformat(timespec="milliseconds"),
            "t": round(event.t, 3),
            "event": event.kind,
            "visit": event.visit_id,
        }
        for key in ("room_id", "desk", "position", "priority", "detail"):
            value = getattr(event, key)
            if value is not None:
                record[key.removesuffix("_id")] = value
        self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.lines += 1
