"""Feedback to the patient after a tap: the local station screen feed and reader LED/buzzer.

Both come after the durable write (`edge.station`); neither waits for the other. The reader's
LED/buzzer says one of three things (`acr122.OUTCOME_OF`): ok, tap again, go to reception; a
driver that can show them has `signal_outcome(outcome)`, which must return at once (the PC/SC
driver queues the pseudo-APDU for its own thread).

The screen feed is what `kiosk_ui`'s station mode shows: it connects to the daemon's
`GET /api/v1/screen` WebSocket and receives `protocol.codec.encode(StationScreen)` text
frames, the latest one at once and then each new one (`idle` after a few quiet seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from edge.feedback.acr122 import OUTCOME_OF, Outcome
from protocol.codec import encode
from protocol.messages import ScreenKind, StationScreen

log = logging.getLogger(__name__)

_QUEUE_LIMIT = 32


class ReaderSignal(Protocol):
    """LED and buzzer of the station's readers."""

    def signal(self, reader: str, kind: ScreenKind) -> None:
        """Signal the outcome of a tap (the screen shown) on the reader that read it.

        Returns at once: the signal is played in the background, never delaying the next tap.
        """
        ...


@runtime_checkable
class SignalsOutcomes(Protocol):
    """A reader driver with a LED/buzzer it can drive (the PC/SC driver)."""

    def signal_outcome(self, outcome: Outcome) -> None:
        """Queue the pattern for `outcome`; returns at once."""
        ...


class NoopReaderSignal:
    """For a station whose readers have no LED/buzzer control."""

    def signal(self, reader: str, kind: ScreenKind) -> None:
        return None


class ReaderLights:
    """Passes each tap's outcome to the driver that read it, when that driver has lights."""

    def __init__(self, readers: Mapping[str, object]) -> None:
        self._drivers: dict[str, SignalsOutcomes] = {
            name: r for name, r in readers.items() if isinstance(r, SignalsOutcomes)
        }

    def signal(self, reader: str, kind: ScreenKind) -> None:
        outcome = OUTCOME_OF.get(kind)
        driver = self._drivers.get(reader)
        if outcome is None or driver is None:
            return
        try:
            driver.signal_outcome(outcome)
        except Exception:
            # Lights are a courtesy: the tap is recorded and on the screen already.
            log.exception("feedback.signal_failed reader=%s outcome=%s", reader, outcome)


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
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a racing cancel.
                async with asyncio.timeout(idle_s):
                    await self._changed.wait()
            except TimeoutError:
                self.show(make_idle())
                self._changed.clear()
