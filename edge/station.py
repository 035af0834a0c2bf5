"""`Station`: turns card reads into durable events and screens, and applies what central sends.

Order on every tap (DESIGN §4, invariant 1): hash the UID, decide from the cache, write the
event(s) to the SQLite outbox in one `synchronous=FULL` transaction, and only then show the
screen and signal the reader. If the write fails (disk full), the tap is refused openly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime

from pydantic import ValidationError

from edge.decide import Decision, Stamp, StationCache, decide
from edge.errors import DiskFullError, StoreError
from edge.feedback import NoopReaderSignal, ReaderSignal, ScreenFeed
from edge.feedback.texts import screen_message
from edge.metrics import (
    EVENTS_ACKED,
    EVENTS_REJECTED,
    NOT_STORED,
    OUTBOX_DEPTH,
    REFUSED,
    STALE_DOCUMENTS,
    SYNC_LAG,
    TAP_LATENCY,
    TAPS,
)
from edge.readers.base import CardRead, ReadFailure, ReadResult
from edge.store.db import SEQ_UNVERIFIED, OutboxRow, StationStore, TapWrite
from protocol.codec import decode, decode_directory, encode
from protocol.errors import ClockSkewError, DecodeError
from protocol.hlc import HLCTimestamp, HybridLogicalClock
from protocol.ids import card_hash, new_event_id
from protocol.messages import (
    Ack,
    CardEntry,
    DirectoryCards,
    DirectoryConfig,
    DirectoryDocument,
    DirectoryRooms,
    DirectoryRoutes,
    Lease,
    ReaderHealth,
    ReaderHealthEvent,
    RoomQueueSnapshot,
    ScreenKind,
    StationScreen,
)

log = logging.getLogger(__name__)

WallClock = Callable[[], float]
MonoClock = Callable[[], float]


class StoredCards:
    """Today's cards in the station database, looked up per tap rather than held in memory.

    A day of 10,000 visits is about 47 MB as Python objects and about 4 MB of JSON rows that
    SQLite pages in as needed; one lookup by primary key and its decode cost tens of µs.
    """

    def __init__(self, store: StationStore) -> None:
        self._store = store

    @staticmethod
    def _decode(card_hash: str, text: str) -> CardEntry | None:
        try:
            return CardEntry.model_validate_json(text)
        except ValidationError as e:
            # Written by another daemon version: the card counts as unknown until central's
            # next document replaces it.
            log.warning("store.cached_card_unreadable card=%s error=%s", card_hash[:8], e)
            return None

    def get(self, card_hash: str, /) -> CardEntry | None:
        text = self._store.card_entry(card_hash)
        return None if text is None else self._decode(card_hash, text)

    def get_many(self, card_hashes: Sequence[str]) -> dict[str, CardEntry]:
        out = {}
        for h, text in self._store.card_entries(card_hashes).items():
            entry = self._decode(h, text)
            if entry is not None:
                out[h] = entry
        return out

    def __len__(self) -> int:
        return self._store.card_count()


class Station:
    """The station's decision and bookkeeping core; no network code here."""

    def __init__(
        self,
        station_id: str,
        store: StationStore,
        site_key: bytes,
        *,
        location_node: str | None = None,
        feed: ScreenFeed | None = None,
        signal: ReaderSignal | None = None,
        wall: WallClock = time.time,
        mono: MonoClock = time.monotonic,
        offline_after_s: float = 20.0,
    ) -> None:
        self.station_id = station_id
        self.location_node = location_node
        self.store = store
        self._site_key = site_key
        self._wall = wall
        self._mono = mono
        self.offline_after_s = offline_after_s
        self.signal: ReaderSignal = signal or NoopReaderSignal()
        self.cache = StationCache()
        self._stored_cards = StoredCards(store)
        self.link_up: Callable[[], bool] = lambda: False
        self.on_outbox_change: Callable[[], None] = lambda: None
        self.last_central_contact: datetime | None = None
        self.clock_offset_ms: int | None = None
        self.alarms: set[str] = set()
        self._screen_seq = 0
        if store.recovery is not None:
            # Shown in the status until the daemon restarts; the log and the file aside stay.
            self.alarms.add("db_recovered")
            if store.recovery.salvage_error is not None:
                self.alarms.add("db_salvage_failed")
        self._load()
        self.feed = feed or ScreenFeed(self.idle_screen())

    # --- start-up ---------------------------------------------------------------------------

    def _load(self) -> None:
        store = self.store
        self.next_seq = store.max_seq() + 1
        last = store.get_meta("last_hlc")
        self.hlc = HybridLogicalClock(
            self.station_id,
            physical_ms=lambda: int(self._wall() * 1000),
            last=HLCTimestamp.from_text(last) if last else None,
        )
        day = store.get_meta("service_day")
        self.cache.fallback_day = date.fromisoformat(day) if day else None
        for kind, (_version, payload) in store.load_versioned("directory").items():
            try:
                self._set_document(decode_directory(payload))
            except DecodeError as e:
                # Written by an older daemon with another model: wait for central's next one.
                log.warning("store.cached_document_unreadable kind=%s error=%s", kind, e)
        for room_id, (_version, payload) in store.load_versioned("room_snapshots").items():
            try:
                self.cache.snapshots[room_id] = decode(RoomQueueSnapshot, payload)
            except DecodeError as e:
                log.warning("store.cached_snapshot_unreadable room=%s error=%s", room_id, e)
        self.cache.blocks = store.lease_blocks()
        self.cache.local.replace(store.local_checkins())
        self.acked_through = store.acked_through()
        self.seq_unverified = store.get_meta(SEQ_UNVERIFIED) is not None
        self.outbox_depth = store.outbox_depth()
        self._oldest_unacked = store.oldest_unacked_created_at()
        self._update_gauges()
        log.info(
            "station.loaded station=%s next_seq=%d outbox_depth=%d cards=%d schema=%d",
            self.station_id,
            self.next_seq,
            self.outbox_depth,
            len(self.cache.cards),
            store.schema_version,
        )

    # --- state the screen and the status show -----------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def oldest_unsent_age_s(self) -> float | None:
        if self._oldest_unacked is None:
            return None
        return max(0.0, self._wall() - self._oldest_unacked)

    @property
    def offline(self) -> bool:
        """True when the broker is down or central has left an event unacknowledged too long."""
        if not self.link_up():
            return True
        age = self.oldest_unsent_age_s()
        return age is not None and age > self.offline_after_s

    def _update_gauges(self) -> None:
        OUTBOX_DEPTH.set(self.outbox_depth)
        SYNC_LAG.set(self.oldest_unsent_age_s() or 0.0)

    def _next_screen_seq(self) -> int:
        self._screen_seq += 1
        return self._screen_seq

    def idle_screen(self) -> StationScreen:
        return StationScreen(
            station_id=self.station_id,
            seq=self._next_screen_seq(),
            kind="idle",
            shown_at=self.now(),
            message=screen_message("idle"),
            offline=self.offline,
            last_central_contact=self.last_central_contact,
        )

    def _screen(self, kind: ScreenKind, d: Decision | None = None) -> StationScreen:
        cache = self.cache
        room = cache.rooms.get(d.room_id) if d is not None and d.room_id else None
        phone_url = None
        if d is not None and d.visit_id and cache.config is not None:
            phone_url = cache.config.phone_page_url.rstrip("/") + "/v/" + d.visit_id
        shows_way = kind in ("checked_in", "already_waiting", "called_now", "no_ticket")
        route = (
            cache.route_to(self.location_node, d.room_id, d.step_free)
            if d is not None and d.room_id and shows_way
            else None
        )
        return StationScreen(
            station_id=self.station_id,
            seq=self._next_screen_seq(),
            kind=kind,
            shown_at=self.now(),
            message=screen_message(kind, d.ticket_number if d else None),
            ticket_number=d.ticket_number if d else None,
            room_id=d.room_id if d and shows_way else None,
            room_name=room.name if room and shows_way else None,
            floor_label=room.floor_label if room and shows_way else None,
            position=d.position if d else None,
            position_is_estimate=bool(d and d.position_is_estimate),
            estimated_wait_s=d.estimated_wait_s if d else None,
            route=route,
            prep_notes=room.prep_notes if room and shows_way else None,
            phone_url=phone_url,
            offline=self.offline,
            last_central_contact=self.last_central_contact,
        )

    # --- taps -------------------------------------------------------------------------------

    async def on_read(self, result: ReadResult) -> StationScreen:
        """Handle one (debounced) reader result: record, then show, then signal the reader.

        The reader's LED/buzzer signal is only queued here (`ReaderSignal.signal` returns at
        once), so it never delays the write, the screen or the next tap.
        """
        screen = self.handle_read(result)
        self.signal.signal(result.reader, screen.kind)
        return screen

    def handle_read(self, result: ReadResult) -> StationScreen:
        """Decide, write durably, then show. Returns the screen shown."""
        if isinstance(result, ReadFailure):
            screen = self._screen("read_error")
            self._show(screen, result.read_at_monotonic)
            return screen
        return self._handle_card(result)

    def _handle_card(self, read: CardRead) -> StationScreen:
        hashed = card_hash(self._site_key, read.uid)
        wall_dt = self.now()
        seq = self.next_seq
        stamp = Stamp(seq, new_event_id(), self.hlc.now().to_text(), wall_dt)
        next_stamp = Stamp(seq + 1, new_event_id(), self.hlc.now().to_text(), wall_dt)
        low_water = self.cache.config.lease_low_water if self.cache.config else 5
        try:
            decision = decide(
                self.cache, hashed, stamp, next_stamp, offline=self.offline, low_water=low_water
            )
        except StoreError as e:  # the cards directory could not be read
            return self._refuse("store_error", e, read.read_at_monotonic)
        created = wall_dt.timestamp()
        rows = [
            OutboxRow(e.station_seq, str(e.event_id), e.kind, encode(e).decode("utf-8"), created)
            for e in decision.events
        ]
        try:
            self.store.record_tap(
                TapWrite(
                    events=rows,
                    last_hlc=decision.events[-1].hlc,
                    next_seq=seq + len(rows),
                    number_used=decision.number_used,
                    local_checkin=decision.local_checkin,
                )
            )
        except DiskFullError as e:
            return self._refuse("disk_full", e, read.read_at_monotonic)
        except StoreError as e:
            return self._refuse("store_error", e, read.read_at_monotonic)
        self.alarms.discard("disk_full")
        self._after_write(decision, len(rows), created)
        log.info(
            "tap.recorded station=%s seq=%d events=%d screen=%s ticket=%s",
            self.station_id,
            seq,
            len(rows),
            decision.screen,
            decision.ticket_number,
        )
        screen = self._screen(decision.screen, decision)
        self._show(screen, read.read_at_monotonic)
        return screen

    def record_reader_health(self, health: ReaderHealth) -> bool:
        """Record a reader's change of health as an event for central; False if not written."""
        wall_dt = self.now()
        event = ReaderHealthEvent(
            kind="reader_health",
            event_id=new_event_id(),
            station_seq=self.next_seq,
            hlc=self.hlc.now().to_text(),
            wall_time=wall_dt,
            reader=health.name,
            status=health.status,
            detail=health.detail,
        )
        created = wall_dt.timestamp()
        row = OutboxRow(
            event.station_seq, str(event.event_id), event.kind, encode(event).decode(), created
        )
        try:
            self.store.record_tap(
                TapWrite(events=[row], last_hlc=event.hlc, next_seq=self.next_seq + 1)
            )
        except StoreError as e:
            log.error("station.reader_health_not_recorded reader=%s error=%s", health.name, e)
            return False
        self.next_seq += 1
        self.outbox_depth += 1
        if self._oldest_unacked is None:
            self._oldest_unacked = created
        self._update_gauges()
        self.on_outbox_change()
        return True

    def _after_write(self, d: Decision, n: int, created: float) -> None:
        self.next_seq += n
        self.outbox_depth += n
        if self._oldest_unacked is None:
            self._oldest_unacked = created
        if d.number_used is not None:
            lease_id, next_number = d.number_used
            self.cache.blocks = [
                b.__class__(b.lease_id, b.room_id, b.service_day, b.first, b.last, next_number)
                if b.lease_id == lease_id
                else b
                for b in self.cache.blocks
            ]
        if d.local_checkin is not None:
            self.cache.local.add(d.local_checkin)
        if any(e.kind == "lease_request" for e in d.events) and d.room_id:
            self.cache.lease_requested.add(d.room_id)
        if d.screen == "no_ticket":
            self.alarms.add("no_tickets")
        self._update_gauges()
        self.on_outbox_change()

    def _refuse(self, reason: str, error: Exception, read_at: float) -> StationScreen:
        self.alarms.add(reason)
        REFUSED.labels(reason=reason).inc()
        log.error("tap.refused station=%s reason=%s error=%s", self.station_id, reason, error)
        screen = self._screen("refused")
        self._show(screen, read_at)
        return screen

    def _show(self, screen: StationScreen, read_at: float) -> None:
        self.feed.show(screen)
        TAPS.labels(screen=screen.kind).inc()
        TAP_LATENCY.observe(max(0.0, self._mono() - read_at))

    # --- what central sends -----------------------------------------------------------------

    def heard_from_central(self) -> None:
        self.last_central_contact = self.now()

    def _set_document(self, doc: DirectoryDocument) -> None:
        cache = self.cache
        cache.versions[doc.kind] = doc.version
        if isinstance(doc, DirectoryCards):
            # The cards themselves are in the database (`StoredCards`); doc is the envelope.
            cache.set_cards(doc, self._stored_cards)
        elif isinstance(doc, DirectoryRooms):
            cache.set_rooms(doc)
        elif isinstance(doc, DirectoryConfig):
            cache.config = doc
        elif isinstance(doc, DirectoryRoutes):
            cache.set_routes(doc)

    def apply_directory(self, doc: DirectoryDocument, payload: str) -> bool:
        """Cache a directory document if it is newer than the one held; True if applied."""
        if isinstance(doc, DirectoryCards):
            return self.apply_cards(doc.model_copy(update={"cards": []}), doc.cards)
        if self._not_newer(doc):
            return False
        if not self.store.put_versioned("directory", doc.kind, doc.version, payload):
            return False
        self._applied(doc)
        return True

    def apply_cards(self, envelope: DirectoryCards, cards: Iterable[CardEntry]) -> bool:
        """Store a cards document if newer than the one held, card by card; True if applied.

        `envelope` is the document without its cards; `cards` may be a `CardsStream`, which
        validates each card as it is read: each is written as it comes, so memory holds one
        card, not the day's 10,000. A bad card raises its DecodeError and nothing is stored.
        """
        if self._not_newer(envelope):
            return False
        rows = ((c.card_hash, c.model_dump_json()) for c in cards)
        if not self.store.replace_cards(envelope.version, encode(envelope).decode(), rows):
            return False
        self._applied(envelope)
        return True

    def _not_newer(self, doc: DirectoryDocument) -> bool:
        held = self.cache.versions.get(doc.kind, 0)
        if doc.version > held:
            return False
        STALE_DOCUMENTS.labels(kind=doc.kind).inc()
        log.info("sync.document_not_newer kind=%s version=%d held=%d", doc.kind, doc.version, held)
        return True

    def _applied(self, doc: DirectoryDocument) -> None:
        self._set_document(doc)
        if isinstance(doc, DirectoryConfig | DirectoryCards):
            day = self.cache.service_day
            if day is not None and day != self.cache.fallback_day:
                self.store.set_meta("service_day", day.isoformat())
                self.cache.fallback_day = day
        self._forget_stale_local()
        log.info("sync.document_applied kind=%s version=%d", doc.kind, doc.version)

    def apply_snapshot(self, snap: RoomQueueSnapshot, payload: str) -> bool:
        """Cache a room snapshot if newer than the one held; True if applied."""
        held = self.cache.snapshots.get(snap.room_id)
        if held is not None and snap.version <= held.version:
            STALE_DOCUMENTS.labels(kind="room_queue").inc()
            return False
        if not self.store.put_versioned("room_snapshots", snap.room_id, snap.version, payload):
            return False
        self.cache.snapshots[snap.room_id] = snap
        self._forget_stale_local(check_cards=False)
        return True

    def apply_lease(self, lease: Lease) -> bool:
        """Replace the leased ticket blocks if the lease is newer; True if applied."""
        if not self.store.apply_lease(lease):
            STALE_DOCUMENTS.labels(kind="lease").inc()
            return False
        self.cache.blocks = self.store.lease_blocks()
        # A new lease answers the outstanding requests; ask again if still short.
        self.cache.lease_requested.clear()
        if all(self.cache.remaining(r) > 0 for r in self.cache.local.room_ids()):
            self.alarms.discard("no_tickets")
        log.info("sync.lease_applied version=%d blocks=%d", lease.version, len(lease.blocks))
        return True

    def apply_ack(self, ack: Ack) -> int:
        """Settle the outbox through `ack.acked_through`; returns how many events settled.

        An ack that cannot be recorded (a full disk) is not applied: its events stay in the
        outbox, are sent again and acked again later (central dedups on event_id). The
        daemon carries on and shows the alarm.
        """
        try:
            return self._apply_ack(ack)
        except StoreError as e:
            self.store_failed("ack", e)
            return 0

    def store_failed(self, what: str, error: StoreError) -> None:
        """Something from central could not be stored: raise the alarm, log it, carry on."""
        reason = "disk_full" if isinstance(error, DiskFullError) else "store_error"
        self.alarms.add(reason)
        NOT_STORED.labels(what=what, reason=reason).inc()
        log.error(
            "sync.not_stored station=%s what=%s reason=%s error=%s",
            self.station_id,
            what,
            reason,
            error,
        )

    def _apply_ack(self, ack: Ack) -> int:
        self.heard_from_central()
        self.clock_offset_ms = int((self.now() - ack.central_time).total_seconds() * 1000)
        try:
            self.hlc.receive(HLCTimestamp.from_text(ack.central_hlc))
        except ClockSkewError as e:
            log.warning("sync.central_clock_ahead station=%s error=%s", self.station_id, e)
        highest = self.next_seq - 1
        through = ack.acked_through
        # After a recovery that lost the seq counter, even an ack within our seqs may be
        # central's old watermark (it keeps its own event under a reused seq and drops ours),
        # so the first ack moves what we sent above it. Resending an event central did store
        # is harmless: it dedups on event_id.
        unverified = self.seq_unverified and through > self.acked_through
        if through > highest or unverified:
            # Central has seen seqs this database never wrote (a wiped or restored station):
            # central would take our unacked events for duplicates of its old ones, so they
            # move above its watermark, and new events follow them.
            self.next_seq = self.store.renumber_unacked(through, self.acked_through)
            if self.seq_unverified:
                self.store.delete_meta(SEQ_UNVERIFIED)
                self.seq_unverified = False
            self.cache.local.replace(self.store.local_checkins())
            log.warning(
                "sync.seq_behind_central station=%s acked_through=%d next_seq=%d",
                self.station_id,
                through,
                self.next_seq,
            )
            self.acked_through = through
            self.outbox_depth = self.store.outbox_depth()
            self.on_outbox_change()
            return 0
        rejects = {r.station_seq: r.reason for r in ack.rejects}
        if through <= self.acked_through and not rejects:
            return 0
        settled = self.store.settle(max(through, self.acked_through), rejects)
        for r in ack.rejects:
            EVENTS_REJECTED.labels(reason=r.reason).inc()
            self.cache.local.pop(r.station_seq, None)
            log.warning(
                "sync.event_rejected station=%s seq=%d reason=%s",
                self.station_id,
                r.station_seq,
                r.reason,
            )
        self.acked_through = max(self.acked_through, through)
        EVENTS_ACKED.inc(settled)
        self.outbox_depth = self.store.outbox_depth()
        self._oldest_unacked = self.store.oldest_unacked_created_at()
        self._update_gauges()
        self.on_outbox_change()
        return settled

    def _forget_stale_local(self, check_cards: bool = True) -> None:
        stale = self.cache.stale_local(check_cards)
        if stale:
            self.store.forget_local_checkins(stale)
            for seq in stale:
                self.cache.local.pop(seq, None)
