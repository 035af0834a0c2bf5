"""ResendingTestStation: a minimal stand-in for the edge outbox, for central's fault tests.

It is NOT the station daemon (edge/ is): it keeps its events in memory (the test process is
not the one killed), publishes them in batches, and resends every event not yet covered by
central's ack after `resend_after_s` — the at-least-once half of DESIGN §4 invariant 2, so a
test can check central's exactly-once half.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from protocol.codec import decode, encode
from protocol.messages import Ack, EventBatch, StationEvent
from protocol.mqtt import Incoming, MqttLink, MqttNotConnected
from protocol.settings import MqttSettings
from protocol.topics import Topics


class ResendingTestStation:
    """Publishes `events` (station_seq 1..n) until central has acknowledged all of them."""

    def __init__(
        self,
        settings: MqttSettings,
        station_id: str,
        events: list[StationEvent],
        *,
        batch_size: int = 5,
        window: int = 20,
        tick_s: float = 0.02,
        resend_after_s: float = 0.5,
    ) -> None:
        self.station_id = station_id
        self.events = events
        self.batch_size = batch_size
        self.window = window
        self.tick_s = tick_s
        self.resend_after_s = resend_after_s
        self.topics = Topics(settings.topic_root)
        self.acked_through = 0
        self.acks: list[Ack] = []
        self.batches_sent = 0
        self.progress = asyncio.Event()
        self._sent_at: dict[int, float] = {}
        self.link = MqttLink(
            settings,
            f"station-{station_id}",
            subscriptions=[(self.topics.station(station_id, "ack"), 1)],
            on_message=self._on_ack,
        )

    async def _on_ack(self, msg: Incoming) -> None:
        ack = decode(Ack, msg.payload)
        self.acks.append(ack)
        if ack.acked_through > self.acked_through:
            self.acked_through = ack.acked_through
            self.progress.set()

    @property
    def done(self) -> bool:
        return self.acked_through >= len(self.events)

    async def wait_acked(self, through: int, limit_s: float) -> None:
        """Wait until central acknowledged at least `through`."""
        async with asyncio.timeout(limit_s):
            while self.acked_through < through:
                self.progress.clear()
                await self.progress.wait()

    async def run(self) -> None:
        """Publish and resend until every event is acknowledged (the link keeps running)."""
        async with asyncio.TaskGroup() as tg:
            link = tg.create_task(self.link.run(), name=f"link-{self.station_id}")
            while not self.done:
                await asyncio.sleep(self.tick_s)
                if self.link.connected.is_set():
                    await self._send_due()
            link.cancel()

    async def _send_due(self) -> None:
        now = time.monotonic()
        pending = [e for e in self.events if e.station_seq > self.acked_through][: self.window]
        due = [
            e
            for e in pending
            if now - self._sent_at.get(e.station_seq, -1e9) >= self.resend_after_s
        ]
        for i in range(0, len(due), self.batch_size):
            chunk = due[i : i + self.batch_size]
            batch = EventBatch(station_id=self.station_id, sent_at=datetime.now(UTC), events=chunk)
            try:
                await self.link.publish(
                    self.topics.station(self.station_id, "events"), encode(batch)
                )
            except (MqttNotConnected, TimeoutError):
                return  # try again on the next tick
            self.batches_sent += 1
            for e in chunk:
                self._sent_at[e.station_seq] = now
