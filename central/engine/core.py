"""The queue engine: the only writer of queue and journey state (DESIGN §2).

Every public write method is one database transaction. It locks the rooms it touches (row
locks on PostgreSQL, BEGIN IMMEDIATE on SQLite), moves the visit through
`protocol.journey.apply`, writes an audit row per transition, bumps the touched rooms'
snapshot versions, commits, and only then returns what changed. A refusal raises `Rejected`
and writes nothing.

The engine is synchronous and thread-safe (each call takes its own pooled connection); call
it from asyncio with `asyncio.to_thread` or an executor.
"""

from __future__ import annotations

from datetime import date, datetime

from central.clock import Clock
from central.config import CentralConfig, QueueSettings, SiteSettings
from central.engine.types import (
    AuditRecord,
    BatchResult,
    Changes,
    DeadLetterRecord,
    EventRecord,
    OpResult,
    StationView,
    VisitView,
    WaitEstimator,
)
from central.store.db import Database
from protocol.journey import Trigger
from protocol.messages import (
    DirectoryCards,
    DirectoryConfig,
    DirectoryRooms,
    EventBatch,
    Lease,
    RoomQueueSnapshot,
)


class Engine:
    """Queue and journey operations over one database."""

    def __init__(
        self,
        database: Database,
        *,
        site_key: bytes,
        site: SiteSettings | None = None,
        queue: QueueSettings | None = None,
        clock: Clock | None = None,
        estimator: WaitEstimator | None = None,
    ) -> None:
        """`database` must be migrated (`Database.migrate()`); `site_key` hashes card UIDs."""
        raise NotImplementedError

    @classmethod
    def from_config(
        cls,
        config: CentralConfig,
        *,
        site_key: bytes | None = None,
        clock: Clock | None = None,
        migrate: bool = True,
    ) -> Engine:
        """Open `config.database.url`, run migrations (unless `migrate=False`) and build an engine.

        `site_key` defaults to the key in `config.site.site_key_file` (created when missing).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the database connections."""
        raise NotImplementedError

    # ------------------------------------------------------------------ time

    def service_day(self, at: datetime | None = None) -> date:
        """The hospital's service day now (or at `at`)."""
        raise NotImplementedError

    def roll_service_day(self) -> Changes:
        """Start a new service day if it has turned: bump every room's snapshot version so the
        retained (yesterday's) snapshots are replaced by today's empty queues.

        Cheap when the day has not turned. Every operation calls it first, so a runner only
        needs a timer (e.g. once a minute) to publish the empty morning snapshots on time.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ station events

    def apply_batch(self, batch: EventBatch, *, received_at: datetime | None = None) -> BatchResult:
        """Apply a station's batch in ONE transaction and return the ack to publish after it.

        Dedups on (station_id, station_seq) and on event_id, so replays, duplicates and
        reordering are harmless. Good events are applied, bad ones rejected with a reason (and
        still settled). `ack.acked_through` is the highest *contiguous* committed station_seq:
        events after a gap are applied but not acknowledged past the gap. An unknown station
        is registered on its first batch. Raises only on storage errors (then nothing was
        committed; do not ack).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ staff / phone / system

    def check_in(
        self,
        visit_id: str,
        *,
        trigger: Trigger = Trigger.STAFF,
        actor: str,
        room_id: str | None = None,
    ) -> OpResult:
        """Queue a REGISTERED visit in its current step's room with a central ticket number.

        `room_id`, when given, must be that room. A NO_SHOW visit rejoins the line (action
        rejoin). `trigger` is STAFF (dashboard) or PHONE (the patient's phone page).
        """
        raise NotImplementedError

    def check_in_card(
        self, card_uid: str, *, actor: str, trigger: Trigger = Trigger.STAFF
    ) -> OpResult:
        """`check_in` for the visit today of the card with this UID (a desk reader)."""
        raise NotImplementedError

    def call_next(self, room_id: str, *, actor: str, desk: str | None = None) -> OpResult:
        """Call the first waiting patient: lowest priority class, then earliest arrival (HLC).

        One called patient per desk (`desk` None means the room's single desk "1"): refused
        with `desk_busy` while the desk has one, `queue_empty` when nobody waits.
        """
        raise NotImplementedError

    def call(self, visit_id: str, *, actor: str, desk: str | None = None) -> OpResult:
        """Call a specific waiting patient, out of order."""
        raise NotImplementedError

    def recall(self, visit_id: str, *, actor: str) -> OpResult:
        """Call a CALLED patient again (announced again; counts toward no-show)."""
        raise NotImplementedError

    def miss(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """The called patient did not come: back in line after N others
        (`queue.missed_requeue_after`), or NO_SHOW once called K times
        (`queue.no_show_after_calls`)."""
        raise NotImplementedError

    def no_show(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """Mark a called patient a no-show now."""
        raise NotImplementedError

    def start(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """The called patient is in the room: the exam or consultation begins."""
        raise NotImplementedError

    def complete(self, visit_id: str, *, actor: str) -> OpResult:
        """This step is done: queue the next step's room (NEXT_STEP) or go to PAYMENT."""
        raise NotImplementedError

    def transfer(self, visit_id: str, to_room_id: str, *, actor: str) -> OpResult:
        """Move a waiting, called or held patient to another room's queue.

        Keeps the priority class and the original arrival order; the patient gets a ticket
        number in the new room; the old queue entry stays as history.
        """
        raise NotImplementedError

    def hold(self, visit_id: str, *, actor: str) -> OpResult:
        """Park a waiting patient (gone for another test); keeps their place."""
        raise NotImplementedError

    def release(self, visit_id: str, *, actor: str) -> OpResult:
        """Back in line from hold, at the old place."""
        raise NotImplementedError

    def cancel(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """Cancel a visit that has not started an exam."""
        raise NotImplementedError

    def pay(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """Payment done: PAYMENT -> FINISHED (trigger STAFF, EMR or SYSTEM)."""
        raise NotImplementedError

    def finish(self, visit_id: str, *, actor: str) -> OpResult:
        """Close a visit with nothing to pay (PAYMENT -> FINISHED, by the system)."""
        raise NotImplementedError

    def set_room_open(self, room_id: str, open_: bool, *, actor: str) -> Changes:
        """Open or close a room to new check-ins (the queue stays and can still be called)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ leases

    def lease(self, station_id: str) -> tuple[Lease, Changes]:
        """The station's current ticket-number blocks, topping up any room whose block is below
        the low-water mark (for today and `queue.lease_days_ahead` coming days).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ reads

    def room_snapshot(self, room_id: str) -> RoomQueueSnapshot:
        """The room's queue as public screens may show it (masked names only).

        Built with a constant number of queries whatever the queue length, and cached per
        (room, version): readers of an unchanged room share one object.
        """
        raise NotImplementedError

    def room_ids(self) -> list[str]:
        """Every room id, sorted."""
        raise NotImplementedError

    def visit(self, visit_id: str) -> VisitView:
        """One visit (raises Rejected `unknown_visit`)."""
        raise NotImplementedError

    def visit_by_card(self, card_uid: str) -> VisitView:
        """Today's visit of a card (raises Rejected `unknown_card`)."""
        raise NotImplementedError

    def visits(
        self,
        *,
        service_day: date | None = None,
        room_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[VisitView]:
        """Visits of a day (default today), optionally only those queued in `room_id`, ordered
        by visit_id; page with `after` = the last visit_id of the previous page."""
        raise NotImplementedError

    def directory_rooms(self) -> DirectoryRooms:
        """Every room, for stations and kiosks."""
        raise NotImplementedError

    def directory_cards(self) -> DirectoryCards:
        """Today's cards as keyed hashes with masked names: what a station needs offline."""
        raise NotImplementedError

    def directory_config(self, phone_page_url: str) -> DirectoryConfig:
        """Site settings stations and kiosks follow."""
        raise NotImplementedError

    def stations(self) -> list[StationView]:
        """Every known station with its sync progress."""
        raise NotImplementedError

    def audit(
        self,
        *,
        visit_id: str | None = None,
        room_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit rows in id order after `after_id` (keyset pagination)."""
        raise NotImplementedError

    def events(
        self, *, station_id: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[EventRecord]:
        """Committed station events in id order after `after_id`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ dead letters

    def record_dead_letter(
        self, *, topic: str, reason: str, detail: str, payload: bytes, station_id: str | None = None
    ) -> int:
        """Keep a payload the bridge could not use (first 2,000 characters); returns its id."""
        raise NotImplementedError

    def dead_letters(self, *, after_id: int = 0, limit: int = 100) -> list[DeadLetterRecord]:
        """Dead letters in id order after `after_id`."""
        raise NotImplementedError
