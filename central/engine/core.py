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

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from central.clock import Clock, ServiceDay, SystemClock
from central.config import CentralConfig, QueueSettings, SiteSettings
from central.engine import cards as cards_doc
from central.engine import leases as lease_ops
from central.engine import loader, reads
from central.engine.errors import Rejected, StorageError
from central.engine.keys import key_between
from central.engine.loader import HospitalData, LoadReport
from central.engine.tx import Restart, Tx, VisitRow, visit_query, visits_from_rows
from central.engine.types import (
    AuditRecord,
    BatchResult,
    Changes,
    DeadLetterRecord,
    EventRecord,
    OpResult,
    SimpleEstimator,
    StationView,
    VisitView,
    WaitEstimator,
)
from central.store.db import Database, defer, send_deferred
from central.store.schema import (
    audit_log,
    dead_letters,
    directory_versions,
    events,
    patients,
    queue_entries,
    rooms,
    site_state,
    stations,
    visit_steps,
    visits,
)
from protocol.base import LocalizedText
from protocol.errors import ClockSkewError
from protocol.hlc import HLCTimestamp, HybridLogicalClock
from protocol.ids import card_hash
from protocol.journey import TERMINAL_STATES, Action, Rejection, State, Trigger, apply
from protocol.messages import (
    Ack,
    CallAnnouncement,
    CheckInEvent,
    DirectoryCards,
    DirectoryConfig,
    DirectoryRooms,
    EventBatch,
    EventReject,
    Lease,
    LeaseRequestEvent,
    RoomQueueSnapshot,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DIRECTORY_KINDS = ("rooms", "cards", "config", "map", "routes")
DEFAULT_DESK = "1"
_PRE_EXAM = (
    State.UNREGISTERED,
    State.ARRIVED,
    State.REGISTERED,
    State.WAITING,
    State.ON_HOLD,
    State.CALLED,
)


_DESK_TICKET = select(queue_entries.c.ticket_number).where(
    queue_entries.c.room_id == bindparam("b_room"),
    queue_entries.c.service_day == bindparam("b_day"),
    queue_entries.c.state == "CALLED",
    queue_entries.c.desk == bindparam("b_desk"),
)
# Call next in one statement: the first waiting visit, and on each of its rows the ticket
# the desk has called and not finished (if any): one round trip fewer on PostgreSQL.
_NEXT_VISIT = visit_query(
    visits.c.visit_id == reads.next_waiting_by_params().scalar_subquery(),
    lock=True,
    extra=[_DESK_TICKET.scalar_subquery().label("desk_ticket")],
)

# A station batch's statements, built once (building SQLAlchemy constructs per batch cost
# about a sixth of applying a one-event batch on SQLite).
_LOCK_STATION = (
    select(stations).where(stations.c.station_id == bindparam("b_station")).with_for_update()
)
_KNOWN_SEQS = select(
    events.c.station_seq,
    events.c.event_id,
    events.c.outcome,
    events.c.reason,
    events.c.message_ko,
    events.c.message_en,
).where(
    events.c.station_id == bindparam("b_station"),
    events.c.station_seq.in_(bindparam("b_seqs", expanding=True)),
)
_USED_EVENT_IDS = select(events.c.event_id).where(
    events.c.event_id.in_(bindparam("b_ids", expanding=True))
)
_INSERT_EVENTS = insert(events)
_SEQS_AFTER = (
    select(events.c.station_seq)
    .where(
        events.c.station_id == bindparam("b_station"),
        events.c.station_seq > bindparam("b_after"),
    )
    .order_by(events.c.station_seq)
    .limit(10_000)
)
_UPDATE_STATION = (
    update(stations)
    .where(stations.c.station_id == bindparam("b_station"))
    .values(acked_through=bindparam("b_acked"), last_batch_at=bindparam("b_now"))
)


@dataclass(frozen=True, slots=True)
class _StationTicket:
    station_id: str
    number: int | None
    lease_id: str | None


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
        if len(site_key) < 16:
            raise ValueError("the site key must be at least 16 bytes")
        self.db = database
        self.site_key = site_key
        self.site = site or SiteSettings()
        self.queue = queue or QueueSettings()
        self.clock: Clock = clock or SystemClock()
        self.days = ServiceDay(self.site.timezone, self.site.day_starts_at)
        self.estimator: WaitEstimator = estimator or SimpleEstimator()
        self.lease_settings = lease_ops.LeaseSettings(
            block_size=self.queue.lease_block_size,
            low_water=self.queue.lease_low_water,
            days_ahead=self.queue.lease_days_ahead,
        )
        self._hlc = HybridLogicalClock(
            self.queue.node_id,
            physical_ms=self._now_ms,
            max_drift_ms=self.queue.max_hlc_drift_s * 1000,
        )
        self._hlc_lock = threading.Lock()
        self._rolled: date | None = None
        self.cache = reads.SnapshotCache()
        self._cards_json: tuple[tuple[int, date], bytes] | None = None
        self._ensure_documents()

    @classmethod
    def from_config(
        cls,
        config: CentralConfig,
        *,
        site_key: bytes | None = None,
        clock: Clock | None = None,
        migrate: bool = True,
        estimator: WaitEstimator | None = None,
    ) -> Engine:
        """Open `config.database.url`, run migrations (unless `migrate=False`) and build an engine.

        `site_key` defaults to the key in `config.site.site_key_file` (created when missing);
        `estimator` to the simple one (average service time x place in line).
        """
        from central.site_key import load_site_key

        db = Database(config.database.url)
        if migrate:
            db.migrate()
        key = site_key if site_key is not None else load_site_key(config.site.site_key_file)
        return cls(
            db,
            site_key=key,
            site=config.site,
            queue=config.queue,
            clock=clock,
            estimator=estimator,
        )

    def close(self) -> None:
        """Release the database connections."""
        self.db.dispose()

    # ------------------------------------------------------------------ plumbing

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _central_key(self) -> str:
        with self._hlc_lock:
            return self._hlc.now().to_text()

    def _station_key(self, hlc_text: str, day: date) -> str:
        """Queue order key of a station event: its HLC, unless the station clock is not
        believable (further ahead of central than the allowed drift, or before the service
        day began: a Pi that booted without a clock) — then central's own HLC."""
        ts = HLCTimestamp.from_text(hlc_text)
        with self._hlc_lock:
            try:
                self._hlc.receive(ts)
            except ClockSkewError:
                log.warning("station_hlc_ahead node=%s hlc=%s", ts.node, hlc_text)
                return self._hlc.now().to_text()
            day_start_ms = int(self.days.start_of(day).timestamp() * 1000)
            if ts.wall_ms < day_start_ms:
                log.warning("station_hlc_before_day node=%s hlc=%s", ts.node, hlc_text)
                return self._hlc.now().to_text()
        return hlc_text

    def _ensure_documents(self) -> None:
        def fn(conn: Connection) -> None:
            have = set(conn.execute(select(directory_versions.c.kind)).scalars())
            now = self.clock.now()
            for kind in DIRECTORY_KINDS:
                if kind not in have:
                    lease_ops.insert_ignore(
                        conn, directory_versions, {"kind": kind, "version": 1, "changed_at": now}
                    )

        with self.db.read() as conn:
            have = set(conn.execute(select(directory_versions.c.kind)).scalars())
        if not set(DIRECTORY_KINDS) <= have:
            self.db.run_write(fn)

    def _write(self, fn: Callable[[Tx], T]) -> tuple[T, Changes]:
        """Run `fn` in one write transaction; returns its result and what changed."""
        rolled: list[date] = []

        def run(conn: Connection) -> tuple[T, Changes]:
            now = self.clock.now()
            day = self.days.of(now)
            tx = Tx(conn, now, day, postgres=not self.db.is_sqlite)
            if self._rolled != day:
                self._roll(tx)
                rolled.append(day)
            result = fn(tx)
            return result, tx.finish()

        for _attempt in range(8):
            try:
                out = self.db.run_write(run)
            except Restart:
                rolled.clear()
                continue
            if rolled:
                self._rolled = rolled[-1]
            return out
        raise StorageError("could not lock a consistent set of rooms after 8 attempts")

    # ------------------------------------------------------------------ time

    def service_day(self, at: datetime | None = None) -> date:
        """The hospital's service day now (or at `at`)."""
        return self.days.of(at or self.clock.now())

    def roll_service_day(self) -> Changes:
        """Start a new service day if it has turned: bump every room's snapshot version so the
        retained (yesterday's) snapshots are replaced by today's empty queues, and cancel the
        past days' visits that never reached an exam (trigger system, actor `day-end`).

        Cheap when the day has not turned. Every operation calls it first, so a runner only
        needs a timer (e.g. once a minute) to publish the empty morning snapshots on time.
        """
        if self._rolled == self.service_day():
            return Changes()
        _none, changes = self._write(lambda tx: None)
        return changes

    def _roll(self, tx: Tx) -> None:
        stored = tx.conn.execute(
            select(site_state.c.value).where(site_state.c.key == "service_day").with_for_update()
        ).scalar()
        if stored is not None and date.fromisoformat(stored) >= tx.day:
            return
        if stored is None:
            tx.conn.execute(insert(site_state).values(key="service_day", value=tx.day.isoformat()))
        else:
            tx.conn.execute(
                update(site_state)
                .where(site_state.c.key == "service_day")
                .values(value=tx.day.isoformat())
            )
        log.info("service_day_rolled from=%s to=%s", stored, tx.day)
        tx.rooms_changed.update(tx.conn.execute(select(rooms.c.room_id)).scalars())
        tx.cards_changed = True
        tx.conn.execute(
            update(directory_versions)
            .where(directory_versions.c.kind == "config")
            .values(version=directory_versions.c.version + 1, changed_at=tx.now)
        )
        tx.leases_changed.update(tx.conn.execute(select(stations.c.station_id)).scalars())
        self._sweep_past_days(tx)

    def _sweep_past_days(self, tx: Tx) -> None:
        stale = tx.conn.execute(
            select(visits.c.visit_id, visits.c.state, visits.c.service_day).where(
                visits.c.service_day < tx.day, visits.c.state.in_([s.value for s in _PRE_EXAM])
            )
        ).all()
        if not stale:
            return
        audit_rows = []
        for r in stale:
            rule = apply(State(r.state), Action.CANCEL, Trigger.SYSTEM)
            assert not isinstance(rule, Rejection)
            audit_rows.append(
                {
                    "at": tx.now,
                    "service_day": r.service_day,
                    "visit_id": r.visit_id,
                    "action": Action.CANCEL.value,
                    "trigger": Trigger.SYSTEM.value,
                    "actor": "day-end",
                    "from_state": r.state,
                    "to_state": rule.target.value,
                    "room_id": None,
                    "event_id": None,
                    "detail": {"reason": "service day ended"},
                }
            )
        tx.conn.execute(insert(audit_log), audit_rows)
        ids = [r.visit_id for r in stale]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            tx.conn.execute(
                update(visits)
                .where(visits.c.visit_id.in_(chunk))
                .values(state=State.CANCELLED.value, updated_at=tx.now)
            )
            tx.conn.execute(
                update(queue_entries)
                .where(
                    queue_entries.c.visit_id.in_(chunk),
                    queue_entries.c.state.in_(("WAITING", "ON_HOLD", "CALLED")),
                )
                .values(state="CANCELLED", desk=None, ended_at=tx.now, end_reason="day_end")
            )
        log.info("day_end_cancelled visits=%d", len(ids))

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

        def run(careful: bool) -> tuple[tuple[Ack, int, int, list[EventReject]], Changes]:
            return self._write(
                lambda tx: self._apply_batch(tx, batch, received_at or tx.now, careful=careful)
            )

        try:
            (ack, applied, duplicates, rejects), changes = run(careful=False)
        except IntegrityError:
            # A constraint caught something the checks did not. Apply the batch again with a
            # savepoint per event, so the one bad event is rejected instead of the batch (and
            # the station's outbox) failing forever.
            log.exception("batch_retry_careful station=%s", batch.station_id)
            (ack, applied, duplicates, rejects), changes = run(careful=True)
        return BatchResult(
            ack=ack,
            applied=applied,
            duplicates=duplicates,
            rejects=tuple(rejects),
            changes=changes,
        )

    def apply_batches(
        self, batches: list[EventBatch], *, received_at: datetime | None = None
    ) -> list[BatchResult]:
        """Apply several stations' batches in ONE transaction (group commit across stations).

        Same rules as `apply_batch` for each batch; one commit for all of them, so a burst
        from many stations costs one fsync instead of one per station. At most one batch per
        station (merge a station's batches first). Results come in the order of `batches`;
        every result carries the whole transaction's `changes` (publish them once). If a
        constraint catches something the checks did not, each batch is applied again on its
        own (`apply_batch`, with its own careful retry), so one station's bad event never holds
        back another station's ack.
        """
        if len(batches) <= 1:
            return [self.apply_batch(b, received_at=received_at) for b in batches]
        ids = [b.station_id for b in batches]
        if len(set(ids)) != len(ids):
            raise ValueError("apply_batches takes at most one batch per station")

        def run(tx: Tx) -> list[tuple[Ack, int, int, list[EventReject]]]:
            at = received_at or tx.now
            # Every lock up front, in one global order (stations, then rooms, each sorted):
            # two centrals sharing the load, or a nurse's call-next, never deadlock with this.
            for sid in sorted(ids):
                self._lock_station(tx, sid)
            wanted = {e.room_id for b in batches for e in b.events if isinstance(e, CheckInEvent)}
            tx.lock_rooms(sorted(wanted), known_only=True)
            return [self._apply_batch(tx, b, at, careful=False) for b in batches]

        try:
            outcomes, changes = self._write(run)
        except IntegrityError:
            log.exception("batches_retry_one_by_one stations=%s", ",".join(ids))
            return [self.apply_batch(b, received_at=received_at) for b in batches]
        return [
            BatchResult(
                ack=ack,
                applied=applied,
                duplicates=duplicates,
                rejects=tuple(rejects),
                changes=changes,
            )
            for ack, applied, duplicates, rejects in outcomes
        ]

    def _lock_station(self, tx: Tx, station_id: str) -> Any:
        row = tx.conn.execute(_LOCK_STATION, {"b_station": station_id}).first()
        if row is None:
            lease_ops.insert_ignore(
                tx.conn,
                stations,
                {
                    "station_id": station_id,
                    "name": {"ko": station_id, "en": station_id},
                    "node_id": None,
                    "enabled": True,
                    "acked_through": 0,
                    "lease_version": 0,
                    "created_at": tx.now,
                },
            )
            row = tx.conn.execute(_LOCK_STATION, {"b_station": station_id}).one()
            log.info("station_registered station=%s", station_id)
        return row

    def _apply_batch(
        self, tx: Tx, batch: EventBatch, received_at: datetime, *, careful: bool
    ) -> tuple[Ack, int, int, list[EventReject]]:
        station = self._lock_station(tx, batch.station_id)
        sid = batch.station_id
        acked = int(station.acked_through)
        seqs = [e.station_seq for e in batch.events]
        known = {
            r.station_seq: r
            for r in tx.conn.execute(_KNOWN_SEQS, {"b_station": sid, "b_seqs": seqs})
        }
        fresh = [e for e in batch.events if e.station_seq > acked and e.station_seq not in known]
        for e in batch.events:
            old = known.get(e.station_seq)
            if old is not None and old.event_id not in (None, str(e.event_id)):
                # Same seq, another event: the station's outbox was reset or it reuses seqs.
                log.warning(
                    "station_seq_reused station=%s seq=%d stored=%s got=%s",
                    sid,
                    e.station_seq,
                    old.event_id,
                    e.event_id,
                )
        used_ids = (
            set(
                tx.conn.execute(
                    _USED_EVENT_IDS, {"b_ids": [str(e.event_id) for e in fresh]}
                ).scalars()
            )
            if fresh
            else set()
        )
        rejects: list[EventReject] = []
        for e in batch.events:
            old = known.get(e.station_seq)
            if old is not None and old.outcome == "rejected":
                rejects.append(
                    EventReject(
                        station_seq=e.station_seq,
                        event_id=e.event_id,
                        reason=old.reason or "rejected",
                        message_ko=old.message_ko or "",
                        message_en=old.message_en or "",
                    )
                )
        if not station.enabled:
            disabled = Rejected.of("station_disabled", station_id=sid)
            rejects.extend(_reject(e.station_seq, e.event_id, disabled) for e in fresh)
            ack = self._ack(sid, acked, rejects)
            return ack, 0, len(batch.events) - len(fresh), rejects

        if station.lease_version == 0 and lease_ops.top_up(
            tx.conn, sid, tx.day, self.lease_settings, tx.now
        ):
            tx.leases_changed.add(sid)
        # An unknown room is not locked (its check-in is refused as `unknown_room`).
        tx.lock_rooms(
            sorted({e.room_id for e in fresh if isinstance(e, CheckInEvent)}), known_only=True
        )

        # Every check-in's visit and card owner in two statements, not one per event. Each row
        # serves its visit's first check-in only (popped); a later event of the same visit in
        # this batch reads it again after the first one's writes.
        prefetched = (
            {}
            if careful
            else tx.prefetch_visits(
                (e.visit_id, e.card_hash)
                for e in fresh
                if isinstance(e, CheckInEvent) and str(e.event_id) not in used_ids
            )
        )
        rows: list[dict[str, Any]] = []
        applied = 0
        tx.defer_writes = not careful  # careful = a savepoint per event: write at once
        for e in fresh:
            raw_id = str(e.event_id)
            eid: str | None = raw_id
            outcome = "recorded"
            rej: Rejected | None = None
            if raw_id in used_ids:
                rej = Rejected.of("duplicate_event_id", event_id=raw_id)
                eid = None
            else:
                used_ids.add(raw_id)
                if isinstance(e, CheckInEvent):
                    rej = self._event_check_in(
                        tx, sid, e, raw_id, careful=careful, visit=prefetched.pop(e.visit_id, None)
                    )
                    outcome = "applied"
                elif isinstance(e, LeaseRequestEvent):
                    all_rooms = self._room_ids(tx.conn)
                    known_rooms = [r for r in e.room_ids if r in all_rooms]
                    lease_ops.top_up(tx.conn, sid, tx.day, self.lease_settings, tx.now, known_rooms)
                    tx.leases_changed.add(sid)  # republish even when central saw no need
                    outcome = "applied"
            if rej is not None:
                outcome = "rejected"
                rejects.append(_reject(e.station_seq, e.event_id, rej))
            else:
                applied += 1
            rows.append(
                {
                    "station_id": sid,
                    "station_seq": e.station_seq,
                    "event_id": eid,
                    "kind": e.kind,
                    "hlc": e.hlc,
                    "wall_time": e.wall_time,
                    "received_at": received_at,
                    "outcome": outcome,
                    "reason": rej.reason if rej else None,
                    "message_ko": rej.message_ko[:500] if rej else None,
                    "message_en": rej.message_en[:500] if rej else None,
                    "payload": e.model_dump(mode="json"),
                }
            )
        tx.defer_writes = False
        tx.flush()
        if rows:
            tx.conn.execute(_INSERT_EVENTS, rows)
        new_acked = acked
        # The run after the old ack; bounded so a long-open gap never makes batches slow (the
        # ack then moves on by at most this much per batch).
        for seq in tx.conn.execute(_SEQS_AFTER, {"b_station": sid, "b_after": acked}).scalars():
            if seq != new_acked + 1:
                break
            new_acked = seq
        defer(
            tx.conn,
            _UPDATE_STATION,
            {"b_station": sid, "b_acked": new_acked, "b_now": tx.now},
        )
        rejects.sort(key=lambda r: r.station_seq)
        ack = self._ack(sid, new_acked, rejects)
        return ack, applied, len(batch.events) - len(fresh), rejects

    def _room_ids(self, conn: Connection) -> set[str]:
        return set(conn.execute(select(rooms.c.room_id)).scalars())

    def _ack(self, station_id: str, acked: int, rejects: list[EventReject]) -> Ack:
        return Ack(
            station_id=station_id,
            acked_through=acked,
            rejects=rejects,
            central_time=self.clock.now(),
            central_hlc=self._central_key(),
        )

    def _event_check_in(
        self,
        tx: Tx,
        station_id: str,
        e: CheckInEvent,
        eid: str,
        *,
        careful: bool,
        visit: VisitRow | None = None,
    ) -> Rejected | None:
        """Apply one station check-in. Every refusal is decided before this event writes any
        state, so a refusal only drops what it staged; `careful` adds a savepoint per event
        for the rare retry after a constraint violation."""
        mark = tx.mark()
        savepoint = tx.conn.begin_nested() if careful else None
        try:
            if e.ticket_number is not None:
                lease_ops.note_station_number(
                    tx.conn, station_id, e.room_id, e.service_day, e.ticket_number, e.lease_id
                )
            v = visit or tx.find_visit_by_id(e.visit_id, card_hash=e.card_hash)
            if v is None:
                raise Rejected.of("unknown_visit", visit_id=e.visit_id)
            owner = v.card_owner
            if owner is None:
                raise Rejected.of("unknown_card")
            if owner != v.patient_id:
                raise Rejected.of("card_mismatch", visit_id=e.visit_id)
            self._check_in_core(
                tx,
                v,
                room_id=e.room_id,
                step_index=e.step_index,
                trigger=Trigger.TAP,
                actor=f"station:{station_id}",
                event_id=eid,
                order_key=None if v.service_day != tx.day else self._station_key(e.hlc, tx.day),
                ticket=_StationTicket(station_id, e.ticket_number, e.lease_id),
            )
            if savepoint is not None:
                send_deferred(tx.conn)  # a constraint its writes break is this event's
        except Rejected as rej:
            if savepoint is not None:
                savepoint.rollback()
            tx.reset(mark)
            return rej
        except IntegrityError:
            if savepoint is None:
                raise
            log.exception("check_in_integrity_error station=%s seq=%d", station_id, e.station_seq)
            savepoint.rollback()
            tx.reset(mark)
            return Rejected.of("invalid_input", detail="conflicting check-in; ask staff")
        if savepoint is not None:
            savepoint.commit()
        return None

    # ------------------------------------------------------------------ check-in core

    def _check_in_core(
        self,
        tx: Tx,
        v: VisitRow,
        *,
        room_id: str | None,
        trigger: Trigger,
        actor: str,
        step_index: int | None = None,
        event_id: str | None = None,
        order_key: str | None = None,
        ticket: _StationTicket | None = None,
    ) -> None:
        if v.service_day < tx.day:
            raise Rejected.of("stale_service_day", service_day=v.service_day.isoformat())
        if v.service_day > tx.day:
            raise Rejected.of("not_today", visit_id=v.visit_id)
        if v.state in TERMINAL_STATES and trigger is Trigger.TAP:
            raise Rejected.of("card_finished")
        if v.active:
            raise Rejected.of("already_queued", visit_id=v.visit_id, room_id=v.entry_room)
        action = Action.REJOIN if v.state is State.NO_SHOW else Action.CHECK_IN
        checked = apply(v.state, action, trigger)
        if isinstance(checked, Rejection):
            raise Rejected.from_journey(checked)
        expected = v.entry_room if action is Action.REJOIN else v.step_room
        if expected is None:
            raise Rejected.of("invalid_input", detail=f"visit {v.visit_id} has no step left")
        if action is Action.CHECK_IN and step_index is not None and step_index != v.current_step:
            raise Rejected.of(
                "wrong_step",
                visit_id=v.visit_id,
                expected_step=v.current_step,
                step_index=step_index,
            )
        room_id = room_id or expected
        if room_id != expected:
            raise Rejected.of(
                "wrong_room", visit_id=v.visit_id, expected_room=expected, room_id=room_id
            )
        lock = tx.lock_rooms([room_id])[room_id]
        if not lock.open:
            raise Rejected.of("room_closed", room_id=room_id)
        key = order_key or self._central_key()
        if action is Action.REJOIN:
            tx.transition(v, action, trigger, actor, room_id=room_id, event_id=event_id)
            tx.update_entry(
                v,
                state="WAITING",
                order_key=key,
                sort_priority=v.priority,
                call_count=0,
                desk=None,
                ended_at=None,
                end_reason=None,
            )
        else:
            number: int | None = None
            lease_id: str | None = None
            station_id = ticket.station_id if ticket else None
            if ticket is not None and ticket.number is not None:
                lease_id = lease_ops.station_number_ok(
                    tx.conn,
                    station_id=ticket.station_id,
                    room_id=room_id,
                    day=v.service_day,
                    number=ticket.number,
                    lease_id=ticket.lease_id,
                )
                if lease_id is not None:
                    number = ticket.number
                else:
                    log.warning(
                        "station_ticket_replaced station=%s room=%s number=%s",
                        ticket.station_id,
                        room_id,
                        ticket.number,
                    )
            if number is None:
                number = lease_ops.central_number(
                    tx.conn, room_id, v.service_day, self.queue.lease_block_size
                )
            tx.transition(
                v,
                action,
                trigger,
                actor,
                room_id=room_id,
                event_id=event_id,
                detail={"ticket_number": number, "issued_by": "station" if lease_id else "central"},
            )
            tx.insert_entry(
                v,
                room_id=room_id,
                ticket_number=number,
                order_key=key,
                lease_id=lease_id,
                station_id=station_id,
            )
        tx.update_visit(v)

    # ------------------------------------------------------------------ staff / phone / system

    def _visit_op(
        self,
        visit_id: str,
        rooms_for: Callable[[VisitRow], Iterable[str | None]],
        body: Callable[[Tx, VisitRow], None],
    ) -> OpResult:
        def needed(v: VisitRow) -> set[str]:
            return {r for r in rooms_for(v) if r}

        def fn(tx: Tx) -> VisitRow:
            if tx.postgres:
                tx.lock_rooms(needed(tx.load_visit(visit_id, lock=False)))
                v = tx.load_visit(visit_id, lock=True)
                if not needed(v) <= tx.locked.keys():
                    raise Restart
            else:
                v = tx.load_visit(visit_id)
                tx.lock_rooms(needed(v))
            body(tx, v)
            return v

        v, changes = self._write(fn)
        return OpResult(v.view(), changes)

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
        return self._visit_op(
            visit_id,
            lambda v: [v.entry_room if v.state is State.NO_SHOW else v.step_room],
            lambda tx, v: self._check_in_core(tx, v, room_id=room_id, trigger=trigger, actor=actor),
        )

    def check_in_card(
        self, card_uid: str, *, actor: str, trigger: Trigger = Trigger.STAFF
    ) -> OpResult:
        """`check_in` for the visit today of the card with this UID (a desk reader)."""
        return self.check_in(self.visit_by_card(card_uid).visit_id, trigger=trigger, actor=actor)

    def _desk_busy(self, tx: Tx, room_id: str, desk: str) -> None:
        ticket = tx.execute(
            _DESK_TICKET, {"b_room": room_id, "b_day": tx.day, "b_desk": desk}
        ).scalar()
        if ticket is not None:
            raise Rejected.of("desk_busy", desk=desk, room_id=room_id, ticket_number=ticket)

    def _call(self, tx: Tx, v: VisitRow, desk: str, actor: str, action: Action) -> None:
        room_id = v.queue_room
        tx.transition(v, action, Trigger.STAFF, actor, room_id=room_id, detail={"desk": desk})
        tx.update_entry(v, state="CALLED", desk=desk, call_count=v.call_count + 1, called_at=tx.now)
        tx.update_visit(v)
        assert room_id is not None
        assert v.ticket_number is not None
        tx.announcements.append(
            CallAnnouncement(
                announcement_id=uuid.uuid4(),
                room_id=room_id,
                room_name=LocalizedText.model_validate(tx.locked[room_id].name),
                ticket_number=v.ticket_number,
                masked_name=v.masked_name,
                desk=desk,
                call_count=v.call_count,
                called_at=tx.now,
            )
        )

    def call_next(self, room_id: str, *, actor: str, desk: str | None = None) -> OpResult:
        """Call the first waiting patient: lowest priority class, then earliest arrival (HLC).

        One called patient per desk (`desk` None means the room's single desk "1"): refused
        with `desk_busy` while the desk has one, `queue_empty` when nobody waits.
        """
        desk = desk or DEFAULT_DESK

        def fn(tx: Tx) -> VisitRow:
            tx.lock_rooms([room_id])
            rows = tx.execute(
                _NEXT_VISIT, {"b_room": room_id, "b_day": tx.day, "b_desk": desk}
            ).all()
            if not rows:
                self._desk_busy(tx, room_id, desk)  # a busy desk is the first thing to say
                raise Rejected.of("queue_empty", room_id=room_id)
            if rows[0].desk_ticket is not None:
                raise Rejected.of(
                    "desk_busy", desk=desk, room_id=room_id, ticket_number=rows[0].desk_ticket
                )
            v = visits_from_rows(rows)[0]
            self._call(tx, v, desk, actor, Action.CALL)
            return v

        v, changes = self._write(fn)
        return OpResult(v.view(), changes)

    def call(self, visit_id: str, *, actor: str, desk: str | None = None) -> OpResult:
        """Call a specific waiting patient, out of order."""
        desk = desk or DEFAULT_DESK

        def body(tx: Tx, v: VisitRow) -> None:
            if v.queue_room and v.state is State.WAITING:
                self._desk_busy(tx, v.queue_room, desk)
            self._call(tx, v, desk, actor, Action.CALL)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def recall(self, visit_id: str, *, actor: str) -> OpResult:
        """Call a CALLED patient again (announced again; counts toward no-show)."""

        def body(tx: Tx, v: VisitRow) -> None:
            self._call(tx, v, v.desk or DEFAULT_DESK, actor, Action.RECALL)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def miss(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """The called patient did not come: back in line after N others
        (`queue.missed_requeue_after`), or NO_SHOW once called K times
        (`queue.no_show_after_calls`)."""

        def body(tx: Tx, v: VisitRow) -> None:
            room_id = v.queue_room
            if v.state is State.CALLED and v.call_count >= self.queue.no_show_after_calls:
                self._no_show(tx, v, actor, trigger)
                return
            tx.transition(v, Action.MISS, trigger, actor, room_id=room_id)
            assert room_id is not None
            sort_priority, key = self._requeue_position(tx, room_id, v)
            tx.update_entry(
                v, state="WAITING", desk=None, sort_priority=sort_priority, order_key=key
            )
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def _requeue_position(self, tx: Tx, room_id: str, v: VisitRow) -> tuple[int, str]:
        """(sort_priority, order_key) that puts `v` after the next N waiting patients."""
        n = self.queue.missed_requeue_after
        ahead = reads.waiting_keys_query(room_id, tx.day)
        if n == 0:
            first = tx.conn.execute(ahead.limit(1)).first()
            if first is None:
                return v.sort_priority, v.order_key
            return int(first.sort_priority), key_between("", first.order_key)
        pair = tx.conn.execute(ahead.offset(n - 1).limit(2)).all()
        if not pair:
            last = tx.conn.execute(reads.waiting_keys_query(room_id, tx.day, last=True)).first()
            if last is None:
                return v.sort_priority, v.order_key
            return int(last.sort_priority), key_between(last.order_key, None)
        x = pair[0]
        y = pair[1] if len(pair) > 1 else None
        upper = (
            y.order_key
            if y is not None and y.sort_priority == x.sort_priority and y.order_key > x.order_key
            else None
        )
        return int(x.sort_priority), key_between(x.order_key, upper)

    def _no_show(self, tx: Tx, v: VisitRow, actor: str, trigger: Trigger) -> None:
        tx.transition(
            v, Action.NO_SHOW, trigger, actor, room_id=v.queue_room, detail={"calls": v.call_count}
        )
        tx.update_entry(v, state="NO_SHOW", desk=None, ended_at=tx.now, end_reason="no_show")
        tx.update_visit(v)

    def no_show(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """Mark a called patient a no-show now."""
        return self._visit_op(
            visit_id,
            lambda v: [v.queue_room],
            lambda tx, v: self._no_show(tx, v, actor, trigger),
        )

    def start(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """The called patient is in the room: the exam or consultation begins."""

        def body(tx: Tx, v: VisitRow) -> None:
            tx.transition(v, Action.START, trigger, actor, room_id=v.queue_room)
            tx.update_entry(v, state="ONGOING", started_at=tx.now)
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def complete(self, visit_id: str, *, actor: str) -> OpResult:
        """This step is done: queue the next step's room (NEXT_STEP) or go to PAYMENT."""

        def body(tx: Tx, v: VisitRow) -> None:
            room_id = v.queue_room
            tx.transition(v, Action.COMPLETE, Trigger.STAFF, actor, room_id=room_id)
            assert room_id is not None
            tx.update_entry(v, state="DONE", ended_at=tx.now, end_reason="completed")
            tx.conn.execute(
                update(visit_steps)
                .where(
                    visit_steps.c.visit_id == v.visit_id,
                    visit_steps.c.step_index == v.current_step,
                )
                .values(done=True, done_at=tx.now)
            )
            step = v.step(v.current_step)
            if step is not None:
                step.done = True
            lease_ops.count_served(tx.conn, room_id, v.service_day)
            next_room = v.next_step_room
            if next_room is not None:
                tx.transition(
                    v,
                    Action.NEXT_STEP,
                    Trigger.SYSTEM,
                    "system",
                    room_id=next_room,
                    detail={"from_room": room_id},
                )
                v.current_step += 1
                number = lease_ops.central_number(
                    tx.conn, next_room, v.service_day, self.queue.lease_block_size
                )
                tx.insert_entry(
                    v, room_id=next_room, ticket_number=number, order_key=self._central_key()
                )
            else:
                tx.transition(v, Action.TO_PAYMENT, Trigger.SYSTEM, "system", room_id=None)
            tx.update_visit(v, current_step=v.current_step)

        return self._visit_op(visit_id, lambda v: [v.queue_room, v.next_step_room], body)

    def transfer(self, visit_id: str, to_room_id: str, *, actor: str) -> OpResult:
        """Move a waiting, called or held patient to another room's queue.

        Keeps the priority class and the original arrival order; the patient gets a ticket
        number in the new room; the old queue entry stays as history.
        """

        def body(tx: Tx, v: VisitRow) -> None:
            from_room = v.queue_room
            if from_room == to_room_id:
                raise Rejected.of("same_room", room_id=to_room_id)
            checked = apply(v.state, Action.TRANSFER, Trigger.STAFF)
            if isinstance(checked, Rejection):
                raise Rejected.from_journey(checked)
            if not tx.locked[to_room_id].open:
                raise Rejected.of("room_closed", room_id=to_room_id)
            tx.transition(
                v,
                Action.TRANSFER,
                Trigger.STAFF,
                actor,
                room_id=to_room_id,
                detail={"from_room": from_room},
            )
            tx.update_entry(
                v, state="TRANSFERRED", desk=None, ended_at=tx.now, end_reason="transfer"
            )
            tx.conn.execute(
                update(visit_steps)
                .where(
                    visit_steps.c.visit_id == v.visit_id,
                    visit_steps.c.step_index == v.current_step,
                )
                .values(room_id=to_room_id)
            )
            step = v.step(v.current_step)
            if step is not None:
                step.room_id = to_room_id
            number = lease_ops.central_number(
                tx.conn, to_room_id, v.service_day, self.queue.lease_block_size
            )
            tx.insert_entry(
                v,
                room_id=to_room_id,
                ticket_number=number,
                order_key=v.arrival_key,
                arrival_key=v.arrival_key,
            )
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [v.queue_room, to_room_id], body)

    def hold(self, visit_id: str, *, actor: str) -> OpResult:
        """Park a waiting patient (gone for another test); keeps their place."""

        def body(tx: Tx, v: VisitRow) -> None:
            tx.transition(v, Action.HOLD, Trigger.STAFF, actor, room_id=v.queue_room)
            tx.update_entry(v, state="ON_HOLD")
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def release(self, visit_id: str, *, actor: str) -> OpResult:
        """Back in line from hold, at the old place."""

        def body(tx: Tx, v: VisitRow) -> None:
            tx.transition(v, Action.RELEASE, Trigger.STAFF, actor, room_id=v.queue_room)
            tx.update_entry(v, state="WAITING")
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def cancel(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """Cancel a visit that has not started an exam."""

        def body(tx: Tx, v: VisitRow) -> None:
            room_id = v.queue_room
            tx.transition(v, Action.CANCEL, trigger, actor, room_id=room_id)
            if room_id is not None:
                tx.update_entry(
                    v, state="CANCELLED", desk=None, ended_at=tx.now, end_reason="cancelled"
                )
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [v.queue_room], body)

    def pay(self, visit_id: str, *, actor: str, trigger: Trigger = Trigger.STAFF) -> OpResult:
        """Payment done: PAYMENT -> FINISHED (trigger STAFF, EMR or SYSTEM)."""

        def body(tx: Tx, v: VisitRow) -> None:
            tx.transition(v, Action.PAY, trigger, actor, room_id=None)
            tx.update_visit(v)

        return self._visit_op(visit_id, lambda v: [], body)

    def finish(self, visit_id: str, *, actor: str) -> OpResult:
        """Close a visit with nothing to pay (PAYMENT -> FINISHED, by the system)."""
        return self.pay(visit_id, actor=actor, trigger=Trigger.SYSTEM)

    def set_room_open(self, room_id: str, open_: bool, *, actor: str) -> Changes:
        """Open or close a room to new check-ins (the queue stays and can still be called)."""

        def fn(tx: Tx) -> None:
            tx.lock_rooms([room_id])
            tx.conn.execute(update(rooms).where(rooms.c.room_id == room_id).values(open=open_))
            tx.rooms_changed.add(room_id)
            tx.rooms_directory_changed = True
            log.info("room_open_changed room=%s open=%s actor=%s", room_id, open_, actor)

        _none, changes = self._write(fn)
        return changes

    # ------------------------------------------------------------------ reference data

    def load(self, data: HospitalData, *, actor: str = "import") -> tuple[LoadReport, Changes]:
        """Apply departments, rooms, stations, patients (with card hashes) and visits in ONE
        transaction: everything or, on a conflict (raises Rejected), nothing.

        New visits are registered (UNREGISTERED -> REGISTERED, trigger emr) with audit rows;
        visits already present (same visit_id or external_ref) are left as they are.
        """
        out = self._write(lambda tx: loader.load(tx, data, self.site_key, actor))
        # An import may rename patients without any queue write: snapshots read every row
        # again rather than keep an entry's old masked name.
        self.cache.clear()
        return out

    # ------------------------------------------------------------------ leases

    def lease(self, station_id: str) -> tuple[Lease, Changes]:
        """The station's current ticket-number blocks, topping up any room whose block is below
        the low-water mark (for today and `queue.lease_days_ahead` coming days).
        """

        def fn(tx: Tx) -> Lease:
            exists = tx.conn.execute(
                select(stations.c.station_id)
                .where(stations.c.station_id == station_id)
                .with_for_update()
            ).scalar()
            if exists is None:
                raise Rejected.of("unknown_station", station_id=station_id)
            if lease_ops.top_up(tx.conn, station_id, tx.day, self.lease_settings, tx.now):
                tx.leases_changed.add(station_id)
            return lease_ops.lease_document(
                tx.conn, station_id, tx.day, self.lease_settings, tx.now
            )

        return self._write(fn)

    # ------------------------------------------------------------------ reads

    def _fresh_day(self) -> date:
        day = self.service_day()
        if self._rolled != day:
            self.roll_service_day()
        return day

    def room_snapshot(self, room_id: str) -> RoomQueueSnapshot:
        """The room's queue as public screens may show it (masked names only).

        Built with a constant number of queries whatever the queue length, and cached per
        (room, version): readers of an unchanged room share one object.
        """
        return self._snapshot(room_id).model

    def room_snapshot_json(self, room_id: str) -> bytes:
        """`room_snapshot` encoded as JSON bytes, also encoded once per version."""
        return self._snapshot(room_id).data

    def room_snapshot_built(self, room_id: str) -> reads.BuiltSnapshot:
        """The room's current snapshot as built: its JSON bytes, room id and version, and
        the model only when asked for (publishing the bytes needs no decode + re-encode)."""
        return self._snapshot(room_id)

    def room_snapshots_built(
        self, room_ids: Iterable[str]
    ) -> Iterator[tuple[str, reads.BuiltSnapshot | Exception]]:
        """Each room's current snapshot (or what went wrong building it), in order, from one
        read transaction (a fresh one after a room that failed): what a publish round needs,
        without a transaction and a thread hand-off per room."""
        day = self._fresh_day()
        todo = deque(room_ids)
        while todo:
            failed: tuple[str, Exception] | None = None
            with self.db.read() as conn:
                while todo:
                    room_id = todo.popleft()
                    try:
                        built = reads.room_snapshot(
                            conn, room_id, day, self.cache, self.estimator, self.clock.now()
                        )
                    except Exception as e:
                        failed = (room_id, e)
                        break
                    yield room_id, built
            if failed is not None:
                yield failed

    def _snapshot(self, room_id: str) -> reads.BuiltSnapshot:
        ((_room, built),) = self.room_snapshots_built([room_id])
        if isinstance(built, Exception):
            raise built
        return built

    def room_ids(self) -> list[str]:
        """Every room id, sorted."""
        with self.db.read() as conn:
            return list(conn.execute(select(rooms.c.room_id).order_by(rooms.c.room_id)).scalars())

    def visit(self, visit_id: str) -> VisitView:
        """One visit (raises Rejected `unknown_visit`)."""
        with self.db.read() as conn:
            found = visits_from_rows(
                conn.execute(visit_query(visits.c.visit_id == visit_id, lock=False))
            )
        if not found:
            raise Rejected.of("unknown_visit", visit_id=visit_id)
        return found[0].view()

    def visit_by_card(self, card_uid: str) -> VisitView:
        """Today's visit of a card (raises Rejected `unknown_card`)."""
        try:
            h = card_hash(self.site_key, card_uid)
        except ValueError as e:
            raise Rejected.of("invalid_input", detail=str(e)) from None
        return self.visit_by_card_hash(h)

    def visit_by_card_hash(self, card_hash_hex: str) -> VisitView:
        """Today's visit of a card given by its keyed hash (raises Rejected `unknown_card`)."""
        day = self._fresh_day()
        with self.db.read() as conn:
            visit_id = reads.visit_id_for_card(conn, card_hash_hex, day)
        if visit_id is None:
            raise Rejected.of("unknown_card")
        return self.visit(visit_id)

    def visits_for_phone_login(self, phone_last4: str, birth_date: date) -> list[VisitView]:
        """Today's visits of the patients with these last 4 phone digits and birth date (the
        phone page's weak login; the caller throttles and decides what one match means)."""
        day = self._fresh_day()
        with self.db.read() as conn:
            ids = list(
                conn.execute(
                    select(visits.c.visit_id)
                    .join(patients, patients.c.patient_id == visits.c.patient_id)
                    .where(
                        patients.c.phone_last4 == phone_last4,
                        patients.c.birth_date == birth_date,
                        visits.c.service_day == day,
                    )
                    .order_by(visits.c.visit_id)
                    .limit(20)
                ).scalars()
            )
            if not ids:
                return []
            rows = visits_from_rows(
                conn.execute(visit_query(visits.c.visit_id.in_(ids), lock=False))
            )
        return [r.view() for r in rows]

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
        day = service_day or self._fresh_day()
        with self.db.read() as conn:
            ids = select(visits.c.visit_id).where(visits.c.service_day == day)
            if after is not None:
                ids = ids.where(visits.c.visit_id > after)
            if room_id is not None:
                ids = ids.where(
                    visits.c.visit_id.in_(
                        select(queue_entries.c.visit_id).where(
                            queue_entries.c.room_id == room_id,
                            queue_entries.c.service_day == day,
                            queue_entries.c.state.in_(("WAITING", "ON_HOLD", "CALLED", "ONGOING")),
                        )
                    )
                )
            page = list(
                conn.execute(
                    ids.order_by(visits.c.visit_id).limit(max(1, min(limit, 1000)))
                ).scalars()
            )
            if not page:
                return []
            rows = visits_from_rows(
                conn.execute(visit_query(visits.c.visit_id.in_(page), lock=False))
            )
        return [r.view() for r in rows]

    def directory_rooms(self) -> DirectoryRooms:
        """Every room, for stations and kiosks."""
        with self.db.read() as conn:
            return reads.directory_rooms(conn)

    def directory_cards(self) -> DirectoryCards:
        """Today's cards as keyed hashes with masked names: what a station needs offline."""
        day = self._fresh_day()
        with self.db.read() as conn:
            return reads.directory_cards(conn, day, self.cache)

    def directory_cards_json(self) -> bytes:
        """`directory_cards()` already encoded, built from plain rows (central.engine.cards):
        the bytes the bridge publishes, at a tenth of the model's cost for a big day."""
        day = self._fresh_day()
        with self.db.read() as conn:
            version = reads.document_version(conn, "cards")
            hit = self._cards_json
            if hit is not None and hit[0] == (version, day):
                return hit[1]
            data = cards_doc.directory_cards_json(conn, day, version)
        self._cards_json = ((version, day), data)
        return data

    def directory_config(self, phone_page_url: str) -> DirectoryConfig:
        """Site settings stations and kiosks follow."""
        day = self._fresh_day()
        with self.db.read() as conn:
            version = reads.document_version(conn, "config")
        return DirectoryConfig(
            kind="config",
            version=version,
            site_name=LocalizedText(ko=self.site.name_ko, en=self.site.name_en),
            timezone=self.site.timezone,
            service_day=day,
            day_starts_at=self.site.day_starts_at,
            phone_page_url=phone_page_url,
            lease_low_water=max(self.queue.lease_low_water, 1),
        )

    def stations(self) -> list[StationView]:
        """Every known station with its sync progress."""
        with self.db.read() as conn:
            return [
                StationView(
                    station_id=r.station_id,
                    name=LocalizedText.model_validate(r.name),
                    node_id=r.node_id,
                    enabled=bool(r.enabled),
                    acked_through=int(r.acked_through),
                    last_batch_at=r.last_batch_at,
                    lease_version=int(r.lease_version),
                )
                for r in conn.execute(select(stations).order_by(stations.c.station_id))
            ]

    def audit(
        self,
        *,
        visit_id: str | None = None,
        room_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit rows in id order after `after_id` (keyset pagination)."""
        q = select(audit_log).where(audit_log.c.audit_id > after_id)
        if visit_id is not None:
            q = q.where(audit_log.c.visit_id == visit_id)
        if room_id is not None:
            q = q.where(audit_log.c.room_id == room_id)
        q = q.order_by(audit_log.c.audit_id).limit(max(1, min(limit, 1000)))
        with self.db.read() as conn:
            return [
                AuditRecord(
                    audit_id=int(r.audit_id),
                    at=r.at,
                    service_day=r.service_day,
                    visit_id=r.visit_id,
                    action=r.action,
                    trigger=r.trigger,
                    actor=r.actor,
                    from_state=r.from_state,
                    to_state=r.to_state,
                    room_id=r.room_id,
                    event_id=r.event_id,
                    detail=dict(r.detail or {}),
                )
                for r in conn.execute(q)
            ]

    def events(
        self, *, station_id: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[EventRecord]:
        """Committed station events in id order after `after_id`."""
        q = select(events).where(events.c.id > after_id)
        if station_id is not None:
            q = q.where(events.c.station_id == station_id)
        q = q.order_by(events.c.id).limit(max(1, min(limit, 1000)))
        with self.db.read() as conn:
            return [
                EventRecord(
                    id=int(r.id),
                    station_id=r.station_id,
                    station_seq=int(r.station_seq),
                    event_id=r.event_id,
                    kind=r.kind,
                    hlc=r.hlc,
                    wall_time=r.wall_time,
                    received_at=r.received_at,
                    outcome=r.outcome,
                    reason=r.reason,
                    payload=dict(r.payload),
                )
                for r in conn.execute(q)
            ]

    # ------------------------------------------------------------------ dead letters

    def record_dead_letter(
        self, *, topic: str, reason: str, detail: str, payload: bytes, station_id: str | None = None
    ) -> int:
        """Keep a payload the bridge could not use (first 2,000 characters); returns its id."""
        excerpt = payload[:8000].decode("utf-8", errors="replace")[:2000]

        def fn(conn: Connection) -> int:
            result = conn.execute(
                insert(dead_letters).values(
                    received_at=self.clock.now(),
                    topic=topic[:256],
                    reason=reason[:64],
                    detail=detail[:4000],
                    station_id=station_id[:64] if station_id else None,
                    payload_excerpt=excerpt,
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])

        return self.db.run_write(fn)

    def dead_letters(self, *, after_id: int = 0, limit: int = 100) -> list[DeadLetterRecord]:
        """Dead letters in id order after `after_id`."""
        q = (
            select(dead_letters)
            .where(dead_letters.c.id > after_id)
            .order_by(dead_letters.c.id)
            .limit(max(1, min(limit, 1000)))
        )
        with self.db.read() as conn:
            return [
                DeadLetterRecord(
                    id=int(r.id),
                    received_at=r.received_at,
                    topic=r.topic,
                    reason=r.reason,
                    detail=r.detail,
                    station_id=r.station_id,
                    payload_excerpt=r.payload_excerpt,
                )
                for r in conn.execute(q)
            ]


def _reject(seq: int, event_id: uuid.UUID, rej: Rejected) -> EventReject:
    return EventReject(
        station_seq=seq,
        event_id=event_id,
        reason=rej.reason[:64],
        message_ko=rej.message_ko[:500],
        message_en=rej.message_en[:500],
    )


__all__ = ["DEFAULT_DESK", "Engine"]
