"""Publishing what changed: retained room snapshots, calls, leases and directory documents.

Every committed operation (a station batch, a staff click, the day turning) hands its
`Changes` to `ChangePublisher.submit`. The publisher task coalesces them: a room that changed
50 times while the previous round was being published is published once, at its latest
version. Calls are never coalesced (each one is announced). The same encoded snapshot goes
to MQTT, to the WebSocket hub and to HTTP readers (`SnapshotCache`): one encoding per
version, whatever the number of readers.

After a (re)connect everything retained is published again, so the broker holds central's
current state even after losing its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

from central.api.ws import Hub
from central.engine import Changes, Engine
from central.engine.reads import BuiltSnapshot
from central.metrics import (
    DIRECTORY_SECONDS,
    PUBLISH_FAILED,
    PUBLISHED,
    SNAPSHOT_DELAY_SECONDS,
    SNAPSHOT_SECONDS,
)
from protocol.codec import encode
from protocol.messages import CallAnnouncement
from protocol.mqtt import MqttLink, MqttNotConnected
from protocol.topics import Topics

log = logging.getLogger("central.publisher")

MAX_INFLIGHT = 2000
"""Publishes awaiting their PUBACK past which the publisher stops taking new rounds."""


class SnapshotCache:
    """Room snapshots as the engine encoded them, one encoding per (room, version), shared by
    HTTP readers, the WebSocket hub and MQTT (no decode + re-encode on the way)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._encoded: dict[str, tuple[int, bytes]] = {}

    async def get(self, room_id: str) -> tuple[BuiltSnapshot, bytes]:
        """The room's current snapshot and its JSON (raises `Rejected` for an unknown room).

        The snapshot's pydantic model is made only if a caller reads `.model`."""
        built = await asyncio.to_thread(self._engine.room_snapshot_built, room_id)
        return built, self.remember(built)

    def cached(self) -> list[tuple[str, bytes]]:
        """(room_id, encoded snapshot) of every room's latest encoded version."""
        return [(room_id, data) for room_id, (_v, data) in sorted(self._encoded.items())]

    def remember(self, built: BuiltSnapshot) -> bytes:
        """Keep the room's newest snapshot bytes (for heartbeats) and return these ones."""
        cached = self._encoded.get(built.room_id)
        if cached is not None and cached[0] == built.version:
            return cached[1]
        if cached is None or cached[0] < built.version:
            self._encoded[built.room_id] = (built.version, built.data)
        return built.data


@dataclass(slots=True)
class _Pending:
    rooms: set[str] = field(default_factory=set)
    leases: set[str] = field(default_factory=set)
    cards: bool = False
    rooms_directory: bool = False
    config: bool = False
    wayfinding: bool = False
    heartbeat: bool = False
    calls: list[CallAnnouncement] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.rooms
            or self.leases
            or self.cards
            or self.rooms_directory
            or self.config
            or self.wayfinding
            or self.heartbeat
            or self.calls
        )


class ChangePublisher:
    """Owns the `publisher` task that turns `Changes` into MQTT and WebSocket messages."""

    def __init__(
        self,
        engine: Engine,
        topics: Topics,
        hub: Hub,
        cache: SnapshotCache,
        *,
        phone_page_url: str,
        link: MqttLink | None = None,
        cards_interval_s: float = 10.0,
        cards_builder: Callable[[], Awaitable[bytes]] | None = None,
    ) -> None:
        self._engine = engine
        self._topics = topics
        self._hub = hub
        self._cache = cache
        self._phone_page_url = phone_page_url
        self.link = link
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.rounds = 0
        # Today's cards change with nearly every check-in, and the document holds every card
        # of the day: it is published at most once per `cards_interval_s`, never per event.
        self._cards_interval_s = cards_interval_s
        self._next_cards_at = 0.0
        self._deferred_until: float | None = None
        self._flushing = False
        self._cards_builder = cards_builder or self._build_cards_here
        # directory/map and directory/routes, encoded (central.bridge.directory builds them).
        self._wayfinding: tuple[bytes, bytes] | None = None
        self.heartbeats = 0
        # Publishes whose PUBACK is still due, and the cards build under way: a round does not
        # wait for either (the next change goes out while a 5 MB document is in flight).
        self._inflight: set[asyncio.Task[None]] = set()
        self._cards_task: asyncio.Task[None] | None = None
        self._in_round = False
        # When each room's oldest change not yet published was submitted (perf_counter).
        self._changed_at: dict[str, float] = {}

    # ------------------------------------------------------------------ input

    def submit(self, changes: Changes) -> None:
        """Queue what a committed operation changed (call from the event loop)."""
        if changes.empty:
            return
        p = self._pending
        p.rooms |= changes.rooms
        now = time.perf_counter()
        for room_id in changes.rooms:
            self._changed_at.setdefault(room_id, now)
        p.leases |= changes.leases
        p.cards = p.cards or changes.cards_changed
        p.rooms_directory = p.rooms_directory or changes.rooms_directory_changed
        p.calls.extend(changes.announcements)
        self._idle.clear()
        self._wake.set()

    def submit_lease(self, station_id: str) -> None:
        """Publish (and top up) this station's lease in the next round."""
        self._pending.leases.add(station_id)
        self._idle.clear()
        self._wake.set()

    def set_wayfinding(self, map_payload: bytes, routes_payload: bytes) -> None:
        """New map and routes documents: publish them (retained) in the next round, and again
        after every reconnect."""
        self._wayfinding = (map_payload, routes_payload)
        self._pending.wayfinding = True
        self._idle.clear()
        self._wake.set()

    def request_heartbeat(self) -> None:
        """Publish every room's current retained snapshot again in the next round: same
        version, same cached bytes. A kiosk counts a repeat as a sign of life, so a quiet
        room's board does not go offline. Done inside a round (never beside one), so a repeat
        cannot overtake a newer snapshot on the wire."""
        self._pending.heartbeat = True
        self._idle.clear()
        self._wake.set()

    async def mark_all(self) -> None:
        """Queue every retained document: every room, station lease and directory."""
        rooms = await asyncio.to_thread(self._engine.room_ids)
        stations = await asyncio.to_thread(self._engine.stations)
        p = self._pending
        p.rooms |= set(rooms)
        p.leases |= {s.station_id for s in stations if s.enabled}
        p.cards = p.rooms_directory = p.config = True
        p.wayfinding = self._wayfinding is not None
        self._idle.clear()
        self._wake.set()

    async def flush(self, limit_s: float) -> bool:
        """Wait until everything submitted so far is published (False on timeout); a
        deferred cards directory goes out now."""
        self._flushing = True
        if not self._idle.is_set():
            self._wake.set()
        try:
            await asyncio.wait_for(self._idle.wait(), limit_s)
        except TimeoutError:
            return False
        finally:
            self._flushing = False
        return True

    # ------------------------------------------------------------------ the task

    async def run(self) -> None:
        """Publish pending changes, coalesced, until cancelled."""
        try:
            await self._run()
        finally:
            for task in list(self._inflight):
                task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._deferred_until is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), max(0.0, self._deferred_until - loop.time())
                    )
                self._deferred_until = None
            self._wake.clear()
            pending, self._pending = self._pending, _Pending()
            self._in_round = True
            try:
                await self._publish_round(pending)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database hiccup must not end publishing: the next change (or reconnect)
                # publishes the latest state again.
                log.exception("publisher.round_failed rooms=%d", len(pending.rooms))
            finally:
                self._in_round = False
            self.rounds += 1
            self._maybe_idle()
            if len(self._inflight) > MAX_INFLIGHT:
                # The broker is slow to acknowledge: stop taking rounds until it catches up.
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    def _maybe_idle(self) -> None:
        if not self._in_round and self._pending.empty and not self._inflight:
            self._idle.set()

    def _start(self, coro: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("publisher.task_failed", exc_info=task.exception())
        self._maybe_idle()

    async def _publish_round(self, p: _Pending) -> None:
        # (kind, topic, payload, retain): coroutines are made only when sent, so a round
        # cancelled half-way leaves none behind un-awaited.
        sends: list[tuple[str, str, bytes, bool]] = []
        # Calls first: they are what a patient in the waiting area is listening for.
        for call in p.calls:
            data = encode(call)
            self._hub.publish("calls", "call", data.decode())
            sends.append(("call", self._topics.room(call.room_id, "call"), data, False))
        self._send_all(sends)
        sends = []
        # One worker-thread call builds the round's rooms in one read transaction, and each
        # room goes out as soon as it is built (handed back to the loop), not after the
        # round's last room: at a busy moment a round has a dozen rooms. (A thread hand-off
        # and a transaction per room cost more than building a room of 70 waiting.)
        started = time.perf_counter()
        changed = {r: self._changed_at.pop(r) for r in p.rooms if r in self._changed_at}
        snaps: list[BuiltSnapshot] = []
        if p.rooms:
            loop = asyncio.get_running_loop()
            # Set once the round stops waiting (done, failed or cancelled): a thread still
            # building after a cancel hands nothing more over.
            over = threading.Event()

            def hand_over(snap: BuiltSnapshot) -> None:  # on the loop, in build order
                if over.is_set():
                    return
                snaps.append(snap)
                data = self._cache.remember(snap)
                self._hub.publish_room(snap.room_id, snap.version, data.decode())
                self._start(self._send("snapshot", self._topics.room(snap.room_id, "queue"), data))
                changed_at = changed.get(snap.room_id)
                if changed_at is not None:
                    SNAPSHOT_DELAY_SECONDS.observe(time.perf_counter() - changed_at)

            def build() -> None:  # in a worker thread
                for room_id, built in self._engine.room_snapshots_built(sorted(p.rooms)):
                    if over.is_set():
                        return
                    if isinstance(built, Exception):
                        log.warning("publisher.snapshot_failed room=%s error=%s", room_id, built)
                    else:
                        loop.call_soon_threadsafe(hand_over, built)

            # The hand-overs were queued before the thread's result: all have run once the
            # await returns.
            try:
                await asyncio.to_thread(build)
            except Exception:
                # The database failed under the round: the next change (or reconnect)
                # publishes these rooms again; the rest of the round still goes out.
                log.exception("publisher.snapshots_failed rooms=%d", len(p.rooms))
            finally:
                over.set()
        if snaps:
            SNAPSHOT_SECONDS.observe(time.perf_counter() - started)
        if p.heartbeat:
            fresh = {snap.room_id for snap in snaps}
            for room_id, data in self._cache.cached():
                if room_id not in fresh:
                    sends.append(("heartbeat", self._topics.room(room_id, "queue"), data, True))
            self.heartbeats += 1
        if p.leases:
            # A lease is a write transaction (it tops the blocks up): it waits for the writer
            # before it, so it goes beside the rounds and never holds back the next snapshot.
            # (Two of one station's leases may cross on the wire; stations keep the newest.)
            self._start(self._publish_leases(sorted(p.leases)))
        if p.rooms_directory:
            doc = await asyncio.to_thread(self._engine.directory_rooms)
            sends.append(("directory", self._topics.directory("rooms"), encode(doc), True))
        now = asyncio.get_running_loop().time()
        if p.cards and self._cards_task is not None:
            self._pending.cards = True  # the build under way wakes us when it is done
            self._idle.clear()
        elif p.cards and now < self._next_cards_at and not self._flushing:
            self._pending.cards = True
            self._deferred_until = self._next_cards_at
            self._idle.clear()
        elif p.cards:
            self._next_cards_at = now + self._cards_interval_s
            self._cards_task = self._start(self._publish_cards())
        if p.config:
            conf = await asyncio.to_thread(self._engine.directory_config, self._phone_page_url)
            sends.append(("directory", self._topics.directory("config"), encode(conf), True))
        if p.wayfinding and self._wayfinding is not None:
            map_payload, routes_payload = self._wayfinding
            sends.append(("directory", self._topics.directory("map"), map_payload, True))
            sends.append(("directory", self._topics.directory("routes"), routes_payload, True))
        # Each publish hands its packet to paho before its first await and tasks start in the
        # order they were made, so the wire order is the round order (and round after round)
        # while the PUBACKs come back in parallel; the next round does not wait for them.
        self._send_all(sends)

    def _send_all(self, sends: list[tuple[str, str, bytes, bool]]) -> None:
        for item in sends:
            self._start(self._send(*item))

    async def _publish_leases(self, station_ids: list[str]) -> None:
        for station_id in station_ids:
            try:
                lease, more = await asyncio.to_thread(self._engine.lease, station_id)
            except Exception as e:
                log.warning("publisher.lease_failed station=%s error=%s", station_id, e)
                continue
            # This lease is being published now; anything else it changed goes round again.
            rest = dataclasses.replace(more, leases=more.leases - {station_id})
            if not rest.empty:
                self.submit(rest)
            topic = self._topics.station(station_id, "lease")
            await self._send("lease", topic, encode(lease), True)

    async def _publish_cards(self) -> None:
        """Build today's cards directory (in the worker process when there is one) and send
        it, beside the rounds: a second-long build never holds back a room snapshot."""
        try:
            started = time.perf_counter()
            data = await self._cards_builder()
            DIRECTORY_SECONDS.labels(kind="cards").observe(time.perf_counter() - started)
            await self._send("directory", self._topics.directory("cards"), data, True)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._pending.cards = True  # try again at the next interval
            log.exception("publisher.cards_failed")
        finally:
            self._cards_task = None
            if self._pending.cards:
                self._wake.set()

    async def _build_cards_here(self) -> bytes:
        return await asyncio.to_thread(self._engine.directory_cards_json)

    async def _send(self, kind: str, topic: str, payload: bytes, retain: bool = True) -> None:
        link = self.link
        if link is None or not link.connected.is_set():
            PUBLISH_FAILED.labels(kind=kind).inc()
            return
        try:
            await link.publish(topic, payload, qos=1, retain=retain)
        except (MqttNotConnected, TimeoutError) as e:
            # Retained state is published again on reconnect; a lost call is still visible
            # in the room's snapshot (now_calling).
            PUBLISH_FAILED.labels(kind=kind).inc()
            log.warning("publisher.publish_failed kind=%s topic=%s error=%r", kind, topic, e)
            return
        PUBLISHED.labels(kind=kind).inc()
