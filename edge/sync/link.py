"""`Syncer`: the station's side of DESIGN §4 over the shared `MqttLink`.

- Outbox events go out in `EventBatch`es of up to `batch_size`, in station_seq order, with a
  few batches in flight. Nothing is deleted on PUBACK: only central's `Ack` settles events.
  On reconnect, and when central has not acked for `resend_timeout_s`, every unsettled event
  is sent again; central dedups on (station_id, station_seq).
- Retained directory documents, this station's lease and room snapshots are applied only when
  newer than the cached version, so a stale retained message never takes the station back.
- A retained `StationStatus` is published on connect and periodically; the broker publishes
  the will (online=false) if the station vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence

from edge.config import EdgeConfig
from edge.errors import StoreError
from edge.memory import LARGE_PAYLOAD_BYTES, release_freed_memory
from edge.metrics import BAD_MESSAGES, EVENTS_SENT, MQTT_CONNECTED, STALE_DOCUMENTS
from edge.station import Station
from edge.store.db import OutboxRow
from protocol.codec import (
    DEFAULT_MAX_BYTES,
    DIRECTORY_MAX_BYTES,
    CardsStream,
    decode,
    decode_directory_streaming,
    parse_json,
)
from protocol.errors import DecodeError, TopicError
from protocol.messages import (
    Ack,
    Lease,
    ReaderHealth,
    RoomQueueSnapshot,
    StationStatus,
)
from protocol.mqtt import Incoming, MqttLink, MqttNotConnected, Will
from protocol.topics import Topics

log = logging.getLogger(__name__)

SOFTWARE_VERSION = "0.1.0"

_JSON = json.JSONDecoder()
_SPACE = " \t\n\r"
# How much of a payload is looked at for its version (ours have it in the first 100 bytes).
PEEK_BYTES = 64 * 1024


def leading_version(payload: bytes, peek: int = PEEK_BYTES) -> int | None:
    """The top-level `"version"` of a JSON object, read without parsing what comes after it.

    Our documents put `version` before their bulk (a cards document's 10,000 cards), so a
    retained copy that is not news is recognised from its first bytes, without building its
    whole tree (about 30 MB of dicts for 10,000 cards). None when no such key comes first
    within `peek` bytes, or the object is not well-formed up to it: the caller then parses
    the whole payload as before. (A payload cut short after its version is taken at its word:
    if not newer, it is dropped as stale rather than as bad JSON.)
    """
    cut = len(payload) > peek
    head = payload[:peek] if cut else payload
    try:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            if not cut or e.start < len(head) - 3:
                return None
            text = head[: e.start].decode("utf-8")  # a character cut at the peek boundary
        i = len(text) - len(text.lstrip(_SPACE))
        if text[i : i + 1] != "{":
            return None
        i += 1
        while True:
            i = _skip_space(text, i)
            if text[i : i + 1] != '"':
                return None
            key, i = _JSON.raw_decode(text, i)
            i = _skip_space(text, i)
            if text[i : i + 1] != ":":
                return None
            value, i = _JSON.raw_decode(text, _skip_space(text, i + 1))
            if cut and i >= len(text):
                return None  # the value may go on past the peek (a number cut short)
            if key == "version":
                ok = isinstance(value, int) and not isinstance(value, bool)
                return value if ok else None
            i = _skip_space(text, i)
            if text[i : i + 1] != ",":
                return None
            i += 1
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def build_batch(station_id: str, sent_at_iso: str, rows: Sequence[OutboxRow]) -> bytes:
    """An `EventBatch` as JSON, spliced from the stored event JSON (already validated)."""
    # Re-validating hundreds of stored events per batch would cost more than the send itself;
    # each payload was produced by `protocol.codec.encode` of a validated event.
    events = ",".join(r.payload for r in rows)
    return (
        f'{{"schema_version":"1.0","station_id":"{station_id}","sent_at":"{sent_at_iso}",'
        f'"events":[{events}]}}'
    ).encode()


class Syncer:
    """Owns the MQTT link of a station and the send loop."""

    def __init__(
        self,
        config: EdgeConfig,
        station: Station,
        readers: Sequence[object] = (),
    ) -> None:
        self.config = config
        self.station = station
        self.readers = list(readers)
        self.topics = Topics(config.mqtt.topic_root)
        sid = config.station_id
        self.events_topic = self.topics.station(sid, "events")
        self.status_topic = self.topics.station(sid, "status")
        self.ack_topic = self.topics.station(sid, "ack")
        self.lease_topic = self.topics.station(sid, "lease")
        self.link = MqttLink(
            config.mqtt,
            client_id=f"station-{sid}",
            subscriptions=[
                (self.ack_topic, 1),
                (self.lease_topic, 1),
                (self.topics.directory_filter(), 1),
                (self.topics.room_filter("queue"), 1),
            ],
            on_message=self.on_message,
            on_connect=self.on_connect,
            will=Will(self.status_topic, self._status(online=False).model_dump_json().encode()),
        )
        station.link_up = self.link.connected.is_set
        station.on_outbox_change = self.wake
        self._wake = asyncio.Event()
        self._status_now = asyncio.Event()
        self.sent_through = station.acked_through
        self._last_progress = time.monotonic()
        self.batches_sent = 0

    # --- status -----------------------------------------------------------------------------

    def reader_health(self) -> list[ReaderHealth]:
        out = []
        for r in self.readers:
            health = getattr(r, "health", None)
            if callable(health):
                out.append(health())
        return out

    def _status(self, online: bool) -> StationStatus:
        st = self.station
        age = st.oldest_unsent_age_s()
        return StationStatus(
            station_id=self.config.station_id,
            online=online,
            sent_at=st.now(),
            software_version=SOFTWARE_VERSION,
            outbox_depth=st.outbox_depth,
            oldest_unsent_age_s=age,
            readers=self.reader_health(),
            clock_offset_ms=st.clock_offset_ms,
            last_central_contact=st.last_central_contact,
            alarms=sorted(st.alarms),
        )

    def status(self) -> StationStatus:
        """The current status (as published and shown by /healthz)."""
        return self._status(online=self.link.connected.is_set())

    async def publish_status(self, online: bool = True) -> None:
        """Publish the retained status; raises MqttNotConnected when the link is down."""
        payload = self._status(online).model_dump_json().encode()
        await self.link.publish(self.status_topic, payload, qos=1, retain=True, puback_timeout=5)

    async def _status_loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # races with the wait ending, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.sync.status_interval_s):
                    await self._status_now.wait()
            self._status_now.clear()
            if self.link.connected.is_set():
                try:
                    await self.publish_status()
                except (MqttNotConnected, TimeoutError) as e:
                    log.info("sync.status_not_published error=%s", e)

    # --- incoming ---------------------------------------------------------------------------

    async def on_connect(self, session_present: bool) -> None:
        MQTT_CONNECTED.set(1)
        # Anything in flight when the link dropped may be lost: send it all again.
        self.sent_through = self.station.acked_through
        self._last_progress = time.monotonic()
        self._status_now.set()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def status_changed(self) -> None:
        """Publish the status now rather than at the next interval."""
        self._status_now.set()

    def _bad(self, source: str, reason: str, topic: str, detail: object) -> None:
        BAD_MESSAGES.labels(source=source, reason=reason).inc()
        log.warning("sync.bad_message topic=%s reason=%s detail=%s", topic, reason, detail)

    @staticmethod
    def _not_newer(payload: bytes, held: int | None, max_bytes: int = DEFAULT_MAX_BYTES) -> bool:
        """True when a document's version is no newer than the one held.

        Retained documents come again on every reconnect; a 50,000-card document is worth
        validating only when it is news. Raises DecodeError for a payload that is not JSON.
        """
        if held is None:
            return False
        version = leading_version(payload) if len(payload) <= max_bytes else None
        if version is None:
            version = parse_json(payload, max_bytes).get("version")
        return isinstance(version, int) and version <= held

    async def on_message(self, msg: Incoming) -> None:
        """Apply one message from the broker; bad ones are counted and dropped."""
        try:
            self._on_message(msg)
        finally:
            if len(msg.payload) >= LARGE_PAYLOAD_BYTES:
                # A day's cards document leaves tens of MB of freed objects behind. Trimmed
                # once this message is no longer referenced (here and by the MQTT link's
                # loop), so that its own payload (MBs) is among what goes back to the OS.
                release_freed_memory()
                asyncio.get_running_loop().call_soon(release_freed_memory)

    def _on_message(self, msg: Incoming) -> None:
        try:
            parsed = self.topics.parse(msg.topic)
        except TopicError as e:
            self._bad("mqtt", "bad_topic", msg.topic, e)
            return
        try:
            if parsed.scope == "station" and parsed.leaf == "ack":
                ack = decode(Ack, msg.payload)
                if ack.station_id != self.config.station_id:
                    self._bad("mqtt", "wrong_station", msg.topic, ack.station_id)
                    return
                settled = self.station.apply_ack(ack)
                if settled:
                    self._last_progress = time.monotonic()
                log.debug("sync.acked through=%d settled=%d", ack.acked_through, settled)
                self.wake()
            elif parsed.scope == "station" and parsed.leaf == "lease":
                lease = decode(Lease, msg.payload)
                if lease.station_id != self.config.station_id:
                    self._bad("mqtt", "wrong_station", msg.topic, lease.station_id)
                    return
                self.station.apply_lease(lease)
            elif parsed.scope == "directory":
                held_version = self.station.cache.versions.get(parsed.name)
                if self._not_newer(msg.payload, held_version, DIRECTORY_MAX_BYTES):
                    STALE_DOCUMENTS.labels(kind=parsed.name).inc()
                    return
                # A cards document comes as a stream: each card is validated and stored as it
                # is read, in one transaction that a bad card rolls back.
                doc = decode_directory_streaming(msg.payload)
                if doc.kind != parsed.name:
                    self._bad("mqtt", "kind_mismatch", msg.topic, doc.kind)
                    return
                if isinstance(doc, CardsStream):
                    self.station.apply_cards(doc.envelope, doc)
                else:
                    self.station.apply_directory(doc, msg.payload.decode("utf-8", errors="replace"))
            elif parsed.scope == "room" and parsed.leaf == "queue":
                held = self.station.cache.snapshots.get(parsed.name)
                if self._not_newer(msg.payload, held.version if held else None):
                    STALE_DOCUMENTS.labels(kind="room_queue").inc()
                    return
                snap = decode(RoomQueueSnapshot, msg.payload)
                if snap.room_id != parsed.name:
                    self._bad("mqtt", "room_mismatch", msg.topic, snap.room_id)
                    return
                self.station.apply_snapshot(snap, msg.payload.decode("utf-8", errors="replace"))
            else:
                return
        except DecodeError as e:
            self._bad("mqtt", e.reason, msg.topic, e)
            return
        except StoreError as e:
            # A full disk: the lease, document or snapshot is not applied (nothing half-done);
            # the daemon carries on with what it holds and shows the alarm.
            what = parsed.name if parsed.scope == "directory" else parsed.leaf
            self.station.store_failed(f"{parsed.scope}/{what}", e)
            return
        if not msg.retain:
            # A live message means central itself is up (retained ones may be hours old).
            self.station.heard_from_central()

    # --- sending ----------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        sync = self.config.sync
        window = sync.inflight_batches * sync.batch_size
        while True:
            await self.link.connected.wait()
            self._wake.clear()
            acked = self.station.acked_through
            self.sent_through = max(self.sent_through, acked)
            now = time.monotonic()
            if self.sent_through > acked and now - self._last_progress > sync.resend_timeout_s:
                log.warning(
                    "sync.resend station=%s from_seq=%d sent_through=%d",
                    self.config.station_id,
                    acked + 1,
                    self.sent_through,
                )
                self.sent_through = acked
                self._last_progress = now
            if self.sent_through - acked < window:
                rows = self.station.store.unacked(self.sent_through, sync.batch_size)
                if rows:
                    if self.sent_through == acked:
                        self._last_progress = now
                    payload = build_batch(
                        self.config.station_id, self.station.now().isoformat(), rows
                    )
                    try:
                        await self.link.publish(self.events_topic, payload, qos=1)
                    except (MqttNotConnected, TimeoutError) as e:
                        log.info("sync.batch_not_published error=%s", e)
                        self.sent_through = self.station.acked_through
                        await asyncio.sleep(0.2)  # the link notices the loss meanwhile
                        continue
                    self.sent_through = rows[-1].station_seq
                    self.batches_sent += 1
                    EVENTS_SENT.inc(len(rows))
                    log.debug(
                        "sync.batch_sent first=%d last=%d",
                        rows[0].station_seq,
                        rows[-1].station_seq,
                    )
                    continue
            timeout = None
            if self.sent_through > self.station.acked_through:
                timeout = max(
                    0.05, sync.resend_timeout_s - (time.monotonic() - self._last_progress)
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: see _status_loop
                    await self._wake.wait()

    async def _watch_link(self) -> None:
        while True:
            await self.link.disconnected.wait()
            MQTT_CONNECTED.set(0)
            await self.link.connected.wait()

    async def run(self) -> None:
        """Run the link, the sender and the status publisher until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.link.run(), name="mqtt-link")
            tg.create_task(self._send_loop(), name="outbox-sender")
            tg.create_task(self._status_loop(), name="status-publisher")
            tg.create_task(self._watch_link(), name="link-watch")
