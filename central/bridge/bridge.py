"""The MQTT bridge: station batches in, acks out, and the fleet view.

- `station/+/events` (optionally through `$share/GROUP/...`): each batch is decoded with
  `protocol.codec`, its station id checked against its topic, and applied by
  `Engine.apply_batches` in a worker thread, in one transaction. The ack is queued for the `acks`
  task only after that returns, i.e. after commit; what changed goes to the publisher.
- `station/+/status`: the fleet view (online, last seen, outbox, readers, clock offset). A
  station coming online gets its lease published.
- Anything the bridge cannot use (not JSON, invalid, a station publishing under another
  station's topic, an unknown topic) is kept as a dead letter with the reason and counted;
  the bridge carries on with the next message.

Decoded batches wait in a queue for the `applier` task. When several are waiting (a burst,
or central catching up), the applier merges each station's waiting batches into one (up to
`MAX_BATCH_EVENTS` events) and applies the merged batches of several stations together in one
transaction (`Engine.apply_batches`, up to `TX_MAX_EVENTS` events): group commit, so a burst
costs one commit instead of one per message or per station. Each batch is still all-or-nothing,
and no ack leaves before its transaction committed. A station's batches keep their arrival
order.
"""

from __future__ import annotations

import asyncio
import logging
import time

from central.api.ws import Hub
from central.bridge.fleet import Fleet
from central.bridge.publisher import ChangePublisher
from central.clock import Clock, SystemClock
from central.config import BridgeSettings
from central.engine import Engine
from central.metrics import (
    BATCH_SECONDS,
    BATCH_WAIT_SECONDS,
    BATCHES,
    DEAD_LETTERS,
    EVENTS,
    PUBLISH_FAILED,
    PUBLISHED,
    REJECTS,
)
from protocol.codec import decode, encode
from protocol.errors import DecodeError, TopicError
from protocol.messages import MAX_BATCH_EVENTS, Ack, EventBatch, StationEvent, StationStatus
from protocol.mqtt import Incoming, MqttLink, MqttNotConnected
from protocol.settings import MqttSettings
from protocol.topics import Topics

log = logging.getLogger("central.bridge")

TX_MAX_EVENTS = 1000
"""Most events one group-commit transaction takes (several stations' batches together)."""


class Bridge:
    """Station events to the engine, acks back; owns the MQTT link of central."""

    def __init__(
        self,
        engine: Engine,
        mqtt: MqttSettings,
        settings: BridgeSettings,
        publisher: ChangePublisher,
        fleet: Fleet,
        hub: Hub,
        *,
        client_id: str = "central",
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.topics = Topics(mqtt.topic_root)
        self.publisher = publisher
        self.fleet = fleet
        self.hub = hub
        self.clock = clock or SystemClock()
        events = self.topics.station_filter("events")
        if settings.shared_subscription:
            events = f"$share/{settings.share_group}/{events}"
        self.link = MqttLink(
            mqtt,
            client_id,
            subscriptions=[(events, 1), (self.topics.station_filter("status"), 1)],
            on_message=self._on_message,
            on_connect=self._on_connect,
        )
        publisher.link = self.link
        self._accepting = True
        self._idle = asyncio.Event()
        self._idle.set()
        self._acks: asyncio.Queue[tuple[str, Ack]] = asyncio.Queue()
        # (batch, when it arrived: perf_counter)
        self._batches: asyncio.Queue[tuple[EventBatch, float]] = asyncio.Queue()
        self._applying = False
        self.batches_applied = 0
        self.transactions = 0

    # ------------------------------------------------------------------ tasks

    async def run_link(self) -> None:
        """The `mqtt` task: connect, reconnect, handle messages in order."""
        await self.link.run()

    async def run_acks(self) -> None:
        """The `acks` task: publish committed batches' acks, in commit order."""
        while True:
            first = await self._acks.get()
            batch = [first]
            while not self._acks.empty():
                batch.append(self._acks.get_nowait())
            # Handed to paho in order before any await: the wire order is the commit order.
            await asyncio.gather(*(self._send_ack(sid, ack) for sid, ack in batch))
            for _ in batch:
                self._acks.task_done()

    async def _send_ack(self, station_id: str, ack: Ack) -> None:
        try:
            await self.link.publish(self.topics.station(station_id, "ack"), encode(ack), qos=1)
        except (MqttNotConnected, TimeoutError) as e:
            # The batch is committed; the station resends it and gets the ack from the dedup.
            PUBLISH_FAILED.labels(kind="ack").inc()
            log.warning(
                "bridge.ack_failed station=%s through=%d error=%r", station_id, ack.acked_through, e
            )
            return
        PUBLISHED.labels(kind="ack").inc()

    # ------------------------------------------------------------------ shutdown

    def stop_accepting(self) -> None:
        """Take no new batch: those not yet started are dropped unacked (stations resend them
        to the next central); the transaction in flight finishes."""
        self._accepting = False
        dropped = 0
        while not self._batches.empty():
            self._batches.get_nowait()
            dropped += 1
        BATCHES.labels(outcome="deferred").inc(dropped)
        if not self._applying:
            self._idle.set()
        log.info("bridge.stop_accepting dropped_unstarted=%d", dropped)

    async def drain(self, limit_s: float) -> bool:
        """Wait for the transaction in flight to commit and for every committed ack to go."""
        try:
            await asyncio.wait_for(self._idle.wait(), limit_s)
            await asyncio.wait_for(self._acks.join(), limit_s)
        except TimeoutError:
            log.error("bridge.drain_timeout pending_acks=%d", self._acks.qsize())
            return False
        return True

    # ------------------------------------------------------------------ messages

    async def _on_connect(self, session_present: bool) -> None:
        # The broker may have lost its retained messages (restart without persistence):
        # publish our whole retained state again.
        try:
            await self.publisher.mark_all()
        except Exception:
            log.exception("bridge.republish_failed")

    async def _on_message(self, msg: Incoming) -> None:
        try:
            parsed = self.topics.parse(msg.topic)
        except TopicError as e:
            await self._dead_letter(msg, "unknown_topic", str(e), None, "unknown")
            return
        if parsed.scope == "station" and parsed.leaf == "events":
            await self._on_batch(msg, parsed.name)
        elif parsed.scope == "station" and parsed.leaf == "status":
            await self._on_status(msg, parsed.name)

    async def _on_batch(self, msg: Incoming, topic_station: str) -> None:
        if not self._accepting:
            BATCHES.labels(outcome="deferred").inc()
            return
        try:
            batch = decode(EventBatch, msg.payload)
        except DecodeError as e:
            await self._dead_letter(msg, e.reason, f"{e.where}: {e.detail}", topic_station)
            return
        if batch.station_id != topic_station:
            await self._dead_letter(
                msg,
                "station_mismatch",
                f"batch of station {batch.station_id!r} published on the topic of station "
                f"{topic_station!r}",
                topic_station,
            )
            return
        self._idle.clear()
        self._batches.put_nowait((batch, time.perf_counter()))

    async def run_applier(self) -> None:
        """The `applier` task: apply waiting batches, several stations per transaction."""
        while True:
            first = await self._batches.get()
            self._applying = True
            waiting = [first]
            while not self._batches.empty():
                waiting.append(self._batches.get_nowait())
            arrivals: dict[str, list[float]] = {}
            for batch, arrived in waiting:
                arrivals.setdefault(batch.station_id, []).append(arrived)
            try:
                merged = _merge_by_station([b for b, _arrived in waiting])
                for group in _transactions(merged, TX_MAX_EVENTS):
                    started = time.perf_counter()
                    for b, _parts in group:
                        for arrived in arrivals.pop(b.station_id, ()):
                            BATCH_WAIT_SECONDS.observe(started - arrived)
                    await self._apply(group)
            finally:
                self._applying = False
                if self._batches.empty():
                    self._idle.set()

    async def _apply(self, group: list[tuple[EventBatch, int]]) -> None:
        """Apply one transaction's worth of merged batches (one per station), then ack each."""
        started = time.perf_counter()
        batches = [b for b, _parts in group]
        parts = sum(p for _b, p in group)
        events = sum(len(b.events) for b in batches)
        try:
            results = await asyncio.to_thread(
                self.engine.apply_batches, batches, received_at=self.clock.now()
            )
        except Exception:
            # Nothing was committed: no ack, the stations resend their batches.
            BATCHES.labels(outcome="failed").inc(parts)
            log.exception(
                "bridge.batch_failed stations=%s events=%d",
                ",".join(b.station_id for b in batches),
                events,
            )
            return
        BATCH_SECONDS.observe(time.perf_counter() - started)
        # Committed: now, and only now, the acks may go out.
        for batch, result in zip(batches, results, strict=True):
            self._acks.put_nowait((batch.station_id, result.ack))
        # One transaction's results share one Changes (publish it once); a fallback to one
        # transaction per station gives each its own.
        per_transaction = {id(r.changes): r.changes for r in results}
        for changes in per_transaction.values():
            self.publisher.submit(changes)
        self.batches_applied += parts
        self.transactions += len(per_transaction)
        BATCHES.labels(outcome="applied").inc(parts)
        for (batch, n), result in zip(group, results, strict=True):
            EVENTS.labels(outcome="applied").inc(result.applied)
            EVENTS.labels(outcome="duplicate").inc(result.duplicates)
            EVENTS.labels(outcome="rejected").inc(len(result.rejects))
            for reject in result.rejects:
                REJECTS.labels(reason=reject.reason).inc()
            log.debug(
                "bridge.batch_applied station=%s batches=%d events=%d applied=%d duplicates=%d "
                "rejects=%d acked_through=%d",
                batch.station_id,
                n,
                len(batch.events),
                result.applied,
                result.duplicates,
                len(result.rejects),
                result.ack.acked_through,
            )

    async def _on_status(self, msg: Incoming, topic_station: str) -> None:
        if not msg.payload:
            return  # a cleared retained status
        try:
            status = decode(StationStatus, msg.payload)
        except DecodeError as e:
            await self._dead_letter(msg, e.reason, f"{e.where}: {e.detail}", topic_station)
            return
        if status.station_id != topic_station:
            await self._dead_letter(
                msg,
                "station_mismatch",
                f"status of station {status.station_id!r} published on the topic of station "
                f"{topic_station!r}",
                topic_station,
            )
            return
        before = self.fleet.get(status.station_id)
        if not self.fleet.update(status, self.clock.now()):
            return
        self.hub.publish("stations", "station", encode(status).decode())
        came_online = status.online and (before is None or not before.status.online)
        if came_online:
            log.info("bridge.station_online station=%s", status.station_id)
            # A station that (re)starts needs its ticket blocks; the publisher tops them up.
            self.publisher.submit_lease(status.station_id)
        elif not status.online and before is not None and before.status.online:
            log.warning("bridge.station_offline station=%s", status.station_id)

    async def _dead_letter(
        self,
        msg: Incoming,
        reason: str,
        detail: str,
        station_id: str | None,
        leaf: str | None = None,
    ) -> None:
        leaf = leaf or msg.topic.rsplit("/", 1)[-1]
        DEAD_LETTERS.labels(leaf=leaf, reason=reason).inc()
        log.warning(
            "bridge.dead_letter topic=%s reason=%s detail=%s bytes=%d",
            msg.topic,
            reason,
            detail[:200],
            len(msg.payload),
        )
        try:
            await asyncio.to_thread(
                self.engine.record_dead_letter,
                topic=msg.topic[:256],
                reason=reason[:64],
                detail=detail,
                payload=msg.payload,
                station_id=station_id,
            )
        except Exception:
            log.exception("bridge.dead_letter_not_stored topic=%s reason=%s", msg.topic, reason)


def _merge_by_station(batches: list[EventBatch]) -> list[tuple[EventBatch, int]]:
    """Merge each station's waiting batches, in arrival order, into batches of at most
    MAX_BATCH_EVENTS events (sorted by station_seq; a seq seen twice is kept once: the
    engine's dedup would settle the copy as a duplicate anyway). Returns (batch, parts)."""
    by_station: dict[str, list[EventBatch]] = {}
    for b in batches:
        by_station.setdefault(b.station_id, []).append(b)
    out: list[tuple[EventBatch, int]] = []
    for station_id, group in by_station.items():
        if len(group) == 1:
            out.append((group[0], 1))
            continue
        current: dict[int, StationEvent] = {}
        parts = 0
        for b in group:
            if current and len(current) + len(b.events) > MAX_BATCH_EVENTS:
                out.append((_batch(station_id, current, b), parts))
                current, parts = {}, 0
            for e in b.events:
                current.setdefault(e.station_seq, e)
            parts += 1
        out.append((_batch(station_id, current, group[-1]), parts))
    return out


def _transactions(
    merged: list[tuple[EventBatch, int]], max_events: int
) -> list[list[tuple[EventBatch, int]]]:
    """Group merged batches into transactions: at most one batch per station each, and at
    most `max_events` events (a single larger batch still gets its own transaction), so one
    commit serves many stations without making any one transaction long."""
    out: list[list[tuple[EventBatch, int]]] = []
    current: list[tuple[EventBatch, int]] = []
    stations: set[str] = set()
    size = 0
    for item in merged:
        batch = item[0]
        n = len(batch.events)
        if current and (batch.station_id in stations or size + n > max_events):
            out.append(current)
            current, stations, size = [], set(), 0
        current.append(item)
        stations.add(batch.station_id)
        size += n
    if current:
        out.append(current)
    return out


def _batch(station_id: str, events: dict[int, StationEvent], last: EventBatch) -> EventBatch:
    return EventBatch(
        station_id=station_id,
        sent_at=last.sent_at,
        events=[events[k] for k in sorted(events)],
    )
