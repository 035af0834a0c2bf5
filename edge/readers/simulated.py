"""A reader fed by software: `inject(uid)` is a tap (demo, `nfc-hospital edge tap UID`, tests)."""

from __future__ import annotations

import asyncio
import logging
import time

from edge.readers.base import (
    CardRead,
    Clock,
    HealthTracker,
    OnRead,
    ReadFailure,
    parse_uid,
)
from edge.readers.config import SimulatedReaderConfig
from protocol.messages import ReaderHealth

log = logging.getLogger(__name__)


class SimulatedReader:
    """An asyncio queue of taps. `inject` may be called before or while `run` runs."""

    driver = "simulated"

    def __init__(self, config: SimulatedReaderConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._queue: asyncio.Queue[CardRead | ReadFailure] = asyncio.Queue()
        self._health = HealthTracker.for_reader(config, self.driver, status="ok")

    @property
    def name(self) -> str:
        return self.config.name

    def inject(self, uid: str) -> CardRead | ReadFailure:
        """Queue a tap of `uid`. Garbage (not hex of 4–20 bytes) becomes a `ReadFailure`.

        Returns what was queued, so an HTTP endpoint can answer 400 for garbage.
        """
        normalized = parse_uid(uid)
        result: CardRead | ReadFailure
        if normalized is None:
            result = self._health.failed(
                ReadFailure(
                    reader=self.name,
                    reason="bad_uid",
                    detail=f"injected UID of {len(uid)} characters is not 4-20 hex bytes",
                    read_at_monotonic=self._clock(),
                )
            )
        else:
            result = CardRead(
                uid=normalized,
                reader=self.name,
                technology="simulated",
                read_at_monotonic=self._clock(),
            )
        self._queue.put_nowait(result)
        return result

    async def run(self, on_read: OnRead) -> None:
        """Hand injected taps to `on_read`, one at a time, until cancelled."""
        while True:
            result = await self._queue.get()
            await on_read(result)

    def health(self) -> ReaderHealth:
        return self._health.snapshot()
