"""Where the simulated queues live: the simulator's own model, or (later) a real system.

The simulation decides what people do (arrive, tap, answer a call, take 7 minutes); a
`QueueBackend` decides what the queue does about it (place in line, who is called next, back in
line after a missed call). `PureQueue` is the simulator's own fast model; an engine backend
(central's Engine in-process) and a live backend (simulated edge readers + the REST API) plug in
behind the same interface.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Protocol

from central.sim.errors import QueueModelError

__all__ = ["Booking", "PureQueue", "QueueBackend", "QueueModelError"]


@dataclass(frozen=True, slots=True)
class Booking:
    """A visit booked for the day, as a backend with its own records must know it."""

    visit_id: str
    index: int
    """1, 2, 3 ... in booking order (a backend derives card and registration numbers)."""
    priority: int
    rooms: tuple[str, ...]
    kinds: tuple[str, ...]
    """Room kind of each step."""


class QueueBackend(Protocol):
    """The queue operations the simulation needs; `t` is simulated seconds since midnight."""

    books_rooms: bool
    """True when every step's room is fixed at booking (a real system's visits have planned
    rooms); False lets the simulation send a patient to the shortest line on arrival."""

    def book(self, bookings: list[Booking], t: float) -> None:
        """The day's visits, before the first arrival."""
        ...

    def check_in(self, visit_id: str, room_id: str, priority: int, step: int, t: float) -> int:
        """Queue the visit in the room; returns its place in line (1 = next)."""
        ...

    def tap(self, visit_id: str, room_id: str, outcome: str, t: float) -> None:
        """A tap that changed nothing (already waiting, wrong station ...)."""
        ...

    def call_next(self, room_id: str, desk: int, t: float) -> str | None:
        """Call the first waiting patient to `desk`; None when nobody waits."""
        ...

    def start(self, visit_id: str, t: float) -> None:
        """The called patient is at the desk."""
        ...

    def complete(self, visit_id: str, t: float) -> tuple[str, int] | None:
        """The step is done; the visit leaves the room's queue. Returns (room, place in line)
        when the backend queued the next step itself (as central's engine does), else None
        (the patient checks in at the next room's station)."""
        ...

    def finish(self, visit_id: str, t: float) -> None:
        """The last step is done: the visit is over (paid)."""
        ...

    def miss(self, visit_id: str, t: float) -> bool:
        """Nobody came: True if back in line, False if now a no-show (left the queue)."""
        ...

    def cancel(self, visit_id: str, t: float) -> None:
        """The visit is closed; it leaves any queue."""
        ...

    def waiting(self, room_id: str) -> list[str]:
        """Visits waiting in the room, in call order."""
        ...


@dataclass(slots=True)
class _Entry:
    room_id: str
    priority: int
    key: float
    calls: int = 0
    state: str = "WAITING"


@dataclass(slots=True)
class _Room:
    # Sorted (priority, key, visit_id): lower priority class first, then arrival order.
    line: list[tuple[int, float, str]] = field(default_factory=list)
    next_key: float = 0.0


class PureQueue:
    """In-memory queues with the engine's rules: priority class, then arrival; a missed patient
    goes back after `requeue_after` others; `no_show_after` calls make a no-show."""

    books_rooms = False

    def __init__(self, requeue_after: int = 3, no_show_after: int = 3) -> None:
        self._requeue_after = requeue_after
        self._no_show_after = no_show_after
        self._rooms: dict[str, _Room] = {}
        self._entries: dict[str, _Entry] = {}

    def _room(self, room_id: str) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room()
        return room

    def check_in(self, visit_id: str, room_id: str, priority: int, step: int, t: float) -> int:
        if visit_id in self._entries:
            raise QueueModelError(f"{visit_id} is already queued in {self._entries[visit_id]}")
        room = self._room(room_id)
        room.next_key += 1.0
        item = (priority, room.next_key, visit_id)
        self._entries[visit_id] = _Entry(room_id, priority, room.next_key)
        bisect.insort(room.line, item)
        return bisect.bisect_left(room.line, item) + 1

    def book(self, bookings: list[Booking], t: float) -> None:
        return None

    def tap(self, visit_id: str, room_id: str, outcome: str, t: float) -> None:
        return None

    def finish(self, visit_id: str, t: float) -> None:
        if visit_id in self._entries:
            raise QueueModelError(f"{visit_id} finishes while queued")

    def call_next(self, room_id: str, desk: int, t: float) -> str | None:
        room = self._room(room_id)
        if not room.line:
            return None
        _prio, _key, visit_id = room.line.pop(0)
        entry = self._entries[visit_id]
        entry.state = "CALLED"
        entry.calls += 1
        return visit_id

    def _entry(self, visit_id: str, *states: str) -> _Entry:
        entry = self._entries.get(visit_id)
        if entry is None or entry.state not in states:
            raise QueueModelError(f"{visit_id} is not {'/'.join(states)} ({entry})")
        return entry

    def start(self, visit_id: str, t: float) -> None:
        self._entry(visit_id, "CALLED").state = "ONGOING"

    def complete(self, visit_id: str, t: float) -> tuple[str, int] | None:
        self._entry(visit_id, "ONGOING")
        del self._entries[visit_id]
        return None

    def miss(self, visit_id: str, t: float) -> bool:
        entry = self._entry(visit_id, "CALLED")
        if entry.calls >= self._no_show_after:
            del self._entries[visit_id]
            return False
        room = self._rooms[entry.room_id]
        # Back in line behind `requeue_after` others of the same class (more urgent classes
        # are ahead of it anyway).
        same = [k for p, k, _v in room.line if p == entry.priority]
        n = self._requeue_after
        if n == 0 and same:
            entry.key = same[0] - 0.5
        elif len(same) > n:
            entry.key = (same[n - 1] + same[n]) / 2
        else:
            room.next_key += 1.0
            entry.key = room.next_key
        entry.state = "WAITING"
        bisect.insort(room.line, (entry.priority, entry.key, visit_id))
        return True

    def cancel(self, visit_id: str, t: float) -> None:
        entry = self._entries.pop(visit_id, None)
        if entry is not None and entry.state == "WAITING":
            room = self._rooms[entry.room_id]
            room.line.remove((entry.priority, entry.key, visit_id))

    def waiting(self, room_id: str) -> list[str]:
        return [v for _p, _k, v in self._room(room_id).line]

    def queued_rooms(self, visit_id: str) -> str | None:
        """The room the visit is queued in (None when it is in no queue)."""
        entry = self._entries.get(visit_id)
        return entry.room_id if entry else None
