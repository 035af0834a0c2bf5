"""Feedback to the patient after a tap: the local station screen feed and reader LED/buzzer.

The screen feed is what `kiosk_ui`'s station mode shows: it connects to the daemon's
`GET /api/v1/screen` WebSocket and receives `protocol.codec.encode(StationScreen)` text
frames, the latest one at once and then each new one (`idle` after a few quiet seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from protocol.codec import encode
from protocol.messages import ScreenKind, StationScreen

log = logging.getLogger(__name__)

_QUEUE_LIMIT = 32


class ReaderSignal(Protocol):
    """LED and buzzer of a reader: green beep for a check-in, red double beep for a problem."""

    async def signal(self, reader: str, kind: ScreenKind) -> None:
        """Signal the outcome of a tap on the reader that read it."""
        ...


class NoopReaderSignal:
    """For readers without LED/buzzer control (and until a driver exposes one)."""

    async def signal(self, reader: str, kind: ScreenKind) -> None:
        return None


class ScreenFeed:
    """The latest station screen and the WebSocket clients that follow it."""

    def __init__(self, initial: StationScreen) -> None:
        self.latest = initial
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._changed = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[str]:
        """A queue of encoded screens, starting with the current one."""
        q: asyncio.Queue[str] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        q.put_nowait(encode(self.latest).decode("utf-8"))
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def show(self, screen: StationScreen) -> None:
        """Make `screen` the current one and push it to every client."""
        self.latest = screen
        text = encode(screen).decode("utf-8")
        for q in self._subscribers:
            if q.full():
                # A stuck client only ever needs the newest screen.
                q.get_nowait()
            q.put_nowait(text)
        self._changed.set()

    async def run_idle(self, idle_s: float, make_idle: Callable[[], StationScreen]) -> None:
        """Go back to the idle screen `idle_s` seconds after the last non-idle one."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self.latest.kind == "idle":
                continue
            try:
                await asyncio.wait_for(self._changed.wait(), idle_s)
            except TimeoutError:
                self.show(make_idle())
                self._changed.clear()
