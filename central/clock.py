"""Central's wall clock and the hospital's service day.

The clock is passed in (DESIGN/STYLE: no hidden I/O in the rules), so tests move time across
the day boundary without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Something that tells the time (always timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock tests set and advance by hand; thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at.astimezone(UTC)

    def advance(self, **kwargs: float) -> datetime:
        """Move forward by `timedelta(**kwargs)`; returns the new time."""
        with self._lock:
            self._now += timedelta(**kwargs)
            return self._now


class ServiceDay:
    """Maps an instant to the hospital's service day.

    The day turns at `day_starts_at` local time (04:00 by default), not at midnight, so the
    evening's last patients and a station that was offline across midnight still belong to the
    day they started in.
    """

    def __init__(self, timezone: str = "Asia/Seoul", day_starts_at: str = "04:00") -> None:
        self.tz = ZoneInfo(timezone)
        hh, mm = (int(p) for p in day_starts_at.split(":"))
        self.starts_at = time(hh, mm)
        self._offset = timedelta(hours=hh, minutes=mm)

    def of(self, at: datetime) -> date:
        """The service day `at` (aware) falls in."""
        return (at.astimezone(self.tz) - self._offset).date()

    def start_of(self, day: date) -> datetime:
        """The instant (UTC) `day` begins."""
        local = datetime.combine(day, self.starts_at, tzinfo=self.tz)
        return local.astimezone(UTC)
