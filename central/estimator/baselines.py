"""Simple wait forecasts the estimator is measured against (issue #9)."""

from __future__ import annotations

from collections import deque
from typing import Protocol


class PointForecaster(Protocol):
    """Fed the same queue events as the estimator; forecasts one number of seconds."""

    name: str

    def observe(
        self, action: str, room_id: str, visit_id: str, at: float, *, position: int | None = None
    ) -> None: ...

    def forecast_s(self, room_id: str, position: int, now: float) -> float: ...


class FixedWait:
    """Always 10 minutes: what the original design's placeholder returned."""

    name = "fixed 10 min"

    def __init__(self, seconds: float = 600.0) -> None:
        self.seconds = seconds

    def observe(
        self, action: str, room_id: str, visit_id: str, at: float, *, position: int | None = None
    ) -> None:
        return None

    def forecast_s(self, room_id: str, position: int, now: float) -> float:
        return self.seconds


class RollingWait:
    """The mean of the room's last `n` waits (join -> call); 10 minutes before any."""

    name = "rolling mean of waits"

    def __init__(self, n: int = 20, cold_s: float = 600.0) -> None:
        self._n = n
        self._cold = cold_s
        self._joined: dict[str, float] = {}
        self._waits: dict[str, deque[float]] = {}
        self._sums: dict[str, float] = {}

    def observe(
        self, action: str, room_id: str, visit_id: str, at: float, *, position: int | None = None
    ) -> None:
        if action == "check_in":
            self._joined[visit_id] = at
        elif action == "call":
            joined = self._joined.pop(visit_id, None)
            if joined is None:
                return
            waits = self._waits.setdefault(room_id, deque())
            waits.append(at - joined)
            self._sums[room_id] = self._sums.get(room_id, 0.0) + at - joined
            if len(waits) > self._n:
                self._sums[room_id] -= waits.popleft()
        elif action in ("cancel", "no_show"):
            self._joined.pop(visit_id, None)

    def forecast_s(self, room_id: str, position: int, now: float) -> float:
        waits = self._waits.get(room_id)
        return self._sums[room_id] / len(waits) if waits else self._cold


class QueueTimesMean:
    """Place in line × the room's configured mean service time / staff (the engine's
    `SimpleEstimator`)."""

    name = "queue length x mean service"

    def __init__(self, rooms: dict[str, tuple[float, int]]) -> None:
        """`rooms`: room id -> (configured avg service s, staff)."""
        self._rooms = rooms

    def observe(
        self, action: str, room_id: str, visit_id: str, at: float, *, position: int | None = None
    ) -> None:
        return None

    def forecast_s(self, room_id: str, position: int, now: float) -> float:
        avg, staff = self._rooms[room_id]
        return position * avg / staff
