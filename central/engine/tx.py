"""One engine transaction: room locks, visit loading, journey transitions with their audit
rows, and the version bumps written just before commit.

Lock order (PostgreSQL row locks; SQLite takes its one write lock at BEGIN IMMEDIATE):
station row -> room_versions rows (sorted by room id) -> visit rows -> room_days rows ->
directory_versions rows. A transaction that finds it needs a room it did not lock restarts
(`Restart`); a deadlock the server breaks is retried by `Database.run_write`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from central.engine.errors import Rejected
from central.engine.types import ACTIVE_ENTRY_STATES, Changes, StepView, VisitView
from central.store.db import defer
from central.store.schema import (
    audit_log,
    cards,
    directory_versions,
    patients,
    queue_entries,
    room_versions,
    rooms,
    visit_steps,
    visits,
)
from protocol.base import LocalizedText
from protocol.journey import Action, Rejection, Rule, State, Trigger, apply
from protocol.messages import CallAnnouncement


class Restart(Exception):
    """The rows this transaction locked are not the ones it needs: roll back and start over."""


@dataclass(slots=True)
class RoomLock:
    """A room whose version row this transaction holds."""

    room_id: str
    version: int
    open: bool
    capacity: int
    avg_service_s: int
    name: dict[str, Any]


@dataclass(slots=True)
class StepRow:
    step_index: int
    room_id: str
    planned_room_id: str
    label: dict[str, Any]
    kind: str
    done: bool


@dataclass(slots=True)
class VisitRow:
    """A visit with its patient's masked name, its steps and its newest queue entry."""

    visit_id: str
    patient_id: str
    patient_name: str
    masked_name: str
    registration_no: str
    service_day: date
    state: State
    current_step: int
    priority: int
    step_free: bool
    external_ref: str | None
    updated_at: datetime
    steps: list[StepRow] = field(default_factory=list)
    # newest queue entry (active or not)
    entry_id: int | None = None
    entry_room: str | None = None
    entry_state: str | None = None
    entry_step: int | None = None
    ticket_number: int | None = None
    call_count: int = 0
    desk: str | None = None
    sort_priority: int = 0
    order_key: str = ""
    arrival_key: str = ""
    card_owner: str | None = None
    """Patient of the card asked about with `find_visit_by_id(card_hash=...)`."""

    @property
    def active(self) -> bool:
        """True when the newest entry occupies a queue."""
        return self.entry_state in ACTIVE_ENTRY_STATES

    @property
    def queue_room(self) -> str | None:
        return self.entry_room if self.active else None

    def step(self, index: int) -> StepRow | None:
        return self.steps[index] if 0 <= index < len(self.steps) else None

    @property
    def step_room(self) -> str | None:
        s = self.step(self.current_step)
        return s.room_id if s else None

    @property
    def next_step_room(self) -> str | None:
        s = self.step(self.current_step + 1)
        return s.room_id if s else None

    def view(self) -> VisitView:
        active = self.active
        return VisitView(
            visit_id=self.visit_id,
            patient_id=self.patient_id,
            patient_name=self.patient_name,
            masked_name=self.masked_name,
            registration_no=self.registration_no,
            service_day=self.service_day,
            state=self.state,
            priority=self.priority,
            step_free=self.step_free,
            current_step=self.current_step,
            steps=tuple(
                StepView(
                    step_index=s.step_index,
                    room_id=s.room_id,
                    label=LocalizedText.model_validate(s.label),
                    kind=s.kind,
                    done=s.done,
                    planned_room_id=s.planned_room_id,
                )
                for s in self.steps
            ),
            room_id=self.entry_room if active else None,
            ticket_number=self.ticket_number if active else None,
            queue_state=self.entry_state if active else None,
            call_count=self.call_count if active else 0,
            desk=self.desk if active else None,
            external_ref=self.external_ref,
            updated_at=self.updated_at,
        )


_ENTRY_COLS = (
    queue_entries.c.entry_id,
    queue_entries.c.room_id.label("entry_room"),
    queue_entries.c.state.label("entry_state"),
    queue_entries.c.step_index.label("entry_step"),
    queue_entries.c.ticket_number,
    queue_entries.c.call_count,
    queue_entries.c.desk,
    queue_entries.c.sort_priority,
    queue_entries.c.order_key,
    queue_entries.c.arrival_key,
)


def visit_query(
    where: ColumnElement[bool],
    *,
    lock: bool,
    with_card: bool = False,
    extra: Iterable[Any] = (),
) -> Any:
    """One statement: visit, patient, every step, and the newest queue entry (and the
    `extra` labelled columns on every row)."""
    inner = queue_entries.alias("newest")
    newest = (
        select(func.max(inner.c.entry_id))
        .where(inner.c.visit_id == visits.c.visit_id)
        .correlate(visits)
        .scalar_subquery()
    )
    q = (
        select(
            visits,
            patients.c.name.label("patient_name"),
            patients.c.masked_name,
            patients.c.registration_no,
            visit_steps.c.step_index,
            visit_steps.c.room_id.label("s_room"),
            visit_steps.c.planned_room_id.label("s_planned"),
            visit_steps.c.label.label("s_label"),
            visit_steps.c.kind.label("s_kind"),
            visit_steps.c.done.label("s_done"),
            *_ENTRY_COLS,
            *(
                [
                    select(cards.c.patient_id)
                    .where(cards.c.card_hash == bindparam("b_hash"), cards.c.active)
                    .scalar_subquery()
                    .label("card_owner")
                ]
                if with_card
                else []
            ),
            *extra,
        )
        .select_from(
            visits.join(patients, patients.c.patient_id == visits.c.patient_id)
            .outerjoin(visit_steps, visit_steps.c.visit_id == visits.c.visit_id)
            .outerjoin(queue_entries, queue_entries.c.entry_id == newest)
        )
        .where(where)
        .order_by(visits.c.visit_id, visit_steps.c.step_index)
    )
    if lock:
        q = q.with_for_update(of=visits)
    return q


# Statements built once: building SQLAlchemy constructs costs more than running them on SQLite.
_VISIT_BY_ID = visit_query(visits.c.visit_id == bindparam("b_visit_id"), lock=False)
_VISIT_BY_ID_LOCKED = visit_query(visits.c.visit_id == bindparam("b_visit_id"), lock=True)
_VISIT_WITH_CARD = visit_query(
    visits.c.visit_id == bindparam("b_visit_id"), lock=True, with_card=True
)
_VISITS_BY_IDS_LOCKED = visit_query(
    visits.c.visit_id.in_(bindparam("b_visit_ids", expanding=True)), lock=True
)
_CARD_OWNERS = select(cards.c.card_hash, cards.c.patient_id).where(
    cards.c.card_hash.in_(bindparam("b_hashes", expanding=True)), cards.c.active
)
_UPDATE_VISIT = update(visits).where(visits.c.visit_id == bindparam("b_visit_id"))
_UPDATE_ENTRY = update(queue_entries).where(queue_entries.c.entry_id == bindparam("b_entry_id"))
_INSERT_ENTRY = insert(queue_entries)
# The statements every operation runs, built once: building a statement and its cache key per
# execution cost more than SQLite's own work for it (issue #13's call-next profile).
_LOCK_ROOMS = (
    select(
        room_versions.c.room_id,
        room_versions.c.version,
        rooms.c.open,
        rooms.c.capacity,
        rooms.c.avg_service_s,
        rooms.c.name,
    )
    .join(rooms, rooms.c.room_id == room_versions.c.room_id)
    .where(room_versions.c.room_id.in_(bindparam("b_rooms", expanding=True)))
    .order_by(room_versions.c.room_id)
    .with_for_update(of=room_versions)
)
_INSERT_AUDIT = insert(audit_log).inline()  # no RETURNING of the key: sent with `defer`
_BUMP_ROOMS = (
    update(room_versions)
    .where(room_versions.c.room_id.in_(bindparam("b_ids", expanding=True)))
    .values(version=room_versions.c.version + 1, changed_at=bindparam("b_now"))
)
_BUMP_DOCUMENTS = (
    update(directory_versions)
    .where(directory_versions.c.kind.in_(bindparam("b_ids", expanding=True)))
    .values(version=directory_versions.c.version + 1, changed_at=bindparam("b_now"))
)
_INSERT_ENTRIES = insert(queue_entries).returning(
    queue_entries.c.entry_id, sort_by_parameter_order=True
)


def visits_from_rows(rows: Iterable[Any]) -> list[VisitRow]:
    """Fold `visit_query` rows (one per step) into VisitRows, in query order."""
    out: list[VisitRow] = []
    by_id: dict[str, VisitRow] = {}
    for r in rows:
        v = by_id.get(r.visit_id)
        if v is None:
            owner = r._mapping.get("card_owner")
            v = VisitRow(
                visit_id=r.visit_id,
                patient_id=r.patient_id,
                patient_name=r.patient_name,
                masked_name=r.masked_name,
                registration_no=r.registration_no,
                service_day=r.service_day,
                state=State(r.state),
                current_step=r.current_step,
                priority=r.priority,
                step_free=bool(r.step_free),
                external_ref=r.external_ref,
                updated_at=r.updated_at,
                entry_id=r.entry_id,
                entry_room=r.entry_room,
                entry_state=r.entry_state,
                entry_step=r.entry_step,
                ticket_number=r.ticket_number,
                call_count=r.call_count or 0,
                desk=r.desk,
                sort_priority=r.sort_priority if r.sort_priority is not None else 0,
                order_key=r.order_key or "",
                arrival_key=r.arrival_key or "",
                card_owner=owner,
            )
            by_id[r.visit_id] = v
            out.append(v)
        if r.step_index is not None:
            v.steps.append(
                StepRow(r.step_index, r.s_room, r.s_planned, r.s_label, r.s_kind, bool(r.s_done))
            )
    return out


class Mark(NamedTuple):
    """How much a Tx had staged (see `Tx.mark`)."""

    audit: int
    announcements: int
    entries: int
    visits: int
    rooms: frozenset[str]
    cards: bool


class Tx:
    """State of one engine transaction; `finish()` writes audit rows and version bumps."""

    def __init__(self, conn: Connection, now: datetime, day: date, *, postgres: bool) -> None:
        self.conn = conn
        self.now = now
        self.day = day
        self.postgres = postgres
        self.locked: dict[str, RoomLock] = {}
        self._absent_rooms: set[str] = set()  # asked for with `known_only`, not there
        self.rooms_changed: set[str] = set()
        self.announcements: list[CallAnnouncement] = []
        self.cards_changed = False
        self.rooms_directory_changed = False
        self.leases_changed: set[str] = set()
        self._audit: list[dict[str, Any]] = []
        # With `defer_writes` (a station batch), new queue entries and visit updates are kept
        # here and written together by `flush()`: one executemany each instead of two
        # statements per check-in. Every read of visits or entries through this Tx flushes
        # first, and so does `finish()`.
        self.defer_writes = False
        self._staged_entries: list[tuple[VisitRow, dict[str, Any]]] = []
        self._staged_visits: list[dict[str, Any]] = []

    def mark(self) -> Mark:
        """Remember what is staged, to undo one event's part of a batch with `reset`."""
        return Mark(
            len(self._audit),
            len(self.announcements),
            len(self._staged_entries),
            len(self._staged_visits),
            frozenset(self.rooms_changed),
            self.cards_changed,
        )

    def reset(self, mark: Mark) -> None:
        del self._audit[mark.audit :]
        del self.announcements[mark.announcements :]
        del self._staged_entries[mark.entries :]
        del self._staged_visits[mark.visits :]
        self.rooms_changed = set(mark.rooms)
        self.cards_changed = mark.cards

    def flush(self) -> None:
        """Write the staged entries (taking their ids) and visit updates."""
        if self._staged_entries:
            staged, self._staged_entries = self._staged_entries, []
            result = self.conn.execute(_INSERT_ENTRIES, [values for _v, values in staged])
            for (v, _values), entry_id in zip(staged, result.scalars(), strict=True):
                v.entry_id = int(entry_id)
        if self._staged_visits:
            staged_visits, self._staged_visits = self._staged_visits, []
            # One visit updated twice: the later values win, in order.
            merged: dict[str, dict[str, Any]] = {}
            for values in staged_visits:
                merged.setdefault(values["b_visit_id"], {}).update(values)
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for values in merged.values():
                by_keys.setdefault(tuple(sorted(values)), []).append(values)
            for rows in by_keys.values():
                defer(self.conn, _UPDATE_VISIT, rows)

    # -------------------------------------------------------------- locks and loads

    def lock_rooms(
        self, room_ids: Iterable[str], *, known_only: bool = False
    ) -> dict[str, RoomLock]:
        """Lock the version rows of `room_ids` (sorted); unknown rooms are refused, or with
        `known_only` left out (for a batch whose events each settle their own room)."""
        ids = list(room_ids)
        wanted = sorted(set(ids) - self.locked.keys() - self._absent_rooms)
        if wanted:
            if self.postgres and self.locked and wanted[0] < max(self.locked):
                # Taking a lower room after a higher one could deadlock on PostgreSQL.
                raise Restart
            for r in self.conn.execute(_LOCK_ROOMS, {"b_rooms": wanted}):
                self.locked[r.room_id] = RoomLock(
                    r.room_id, r.version, bool(r.open), r.capacity, r.avg_service_s, r.name
                )
            missing = [rid for rid in wanted if rid not in self.locked]
            if missing and not known_only:
                raise Rejected.of("unknown_room", room_id=missing[0])
            # Not asked for again (nor taken for a lower room locked late: a restart).
            self._absent_rooms.update(missing)
        return {rid: self.locked[rid] for rid in ids if rid in self.locked}

    def load_visit(self, visit_id: str, *, lock: bool = True) -> VisitRow:
        """The visit (row-locked on PostgreSQL), or Rejected `unknown_visit`."""
        self.flush()
        found = self.find_visit_by_id(visit_id, lock=lock)
        if found is None:
            raise Rejected.of("unknown_visit", visit_id=visit_id)
        return found

    def find_visit_by_id(
        self, visit_id: str, *, lock: bool = True, card_hash: str | None = None
    ) -> VisitRow | None:
        """The visit, or None; with `card_hash`, also whose that card is (`card_owner`)."""
        self.flush()
        if card_hash is not None:
            rows = visits_from_rows(
                self.conn.execute(_VISIT_WITH_CARD, {"b_visit_id": visit_id, "b_hash": card_hash})
            )
        else:
            stmt = _VISIT_BY_ID_LOCKED if lock else _VISIT_BY_ID
            rows = visits_from_rows(self.conn.execute(stmt, {"b_visit_id": visit_id}))
        return rows[0] if rows else None

    def prefetch_visits(self, wanted: Iterable[tuple[str, str]]) -> dict[str, VisitRow]:
        """Load (and on PostgreSQL lock) the visits of `wanted` (visit_id, card_hash) pairs in
        two statements instead of one per event, each with `card_owner` set for its pair's
        card. A visit asked for with two different cards is left out (its events use
        `find_visit_by_id`). The rows are as of now: use each one only for the first write
        to its visit in this transaction."""
        self.flush()
        pairs: dict[str, str | None] = {}
        for visit_id, card in wanted:
            pairs[visit_id] = card if pairs.get(visit_id, card) == card else None
        ids = sorted(v for v, c in pairs.items() if c is not None)
        if not ids:
            return {}
        rows = visits_from_rows(self.conn.execute(_VISITS_BY_IDS_LOCKED, {"b_visit_ids": ids}))
        hashes = sorted({c for c in pairs.values() if c is not None})
        owners = {h: p for h, p in self.conn.execute(_CARD_OWNERS, {"b_hashes": hashes})}
        out: dict[str, VisitRow] = {}
        for v in rows:
            v.card_owner = owners.get(pairs[v.visit_id] or "")
            out[v.visit_id] = v
        return out

    def find_visit(
        self, where: ColumnElement[bool], params: dict[str, Any] | None = None, *, lock: bool = True
    ) -> VisitRow | None:
        self.flush()
        rows = visits_from_rows(self.conn.execute(visit_query(where, lock=lock), params or {}))
        return rows[0] if rows else None

    def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        self.flush()
        return self.conn.execute(stmt, params or {})

    # -------------------------------------------------------------- writes

    def transition(
        self,
        v: VisitRow,
        action: Action,
        trigger: Trigger,
        actor: str,
        *,
        room_id: str | None,
        event_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Rule:
        """Move `v` by `action` through the journey table and stage its audit row.

        The caller writes the visit's new state (and anything else) in the same transaction.
        """
        result = apply(v.state, action, trigger)
        if isinstance(result, Rejection):
            raise Rejected.from_journey(result)
        self._audit.append(
            {
                "at": self.now,
                "service_day": v.service_day,
                "visit_id": v.visit_id,
                "action": action.value,
                "trigger": trigger.value,
                "actor": actor[:64],
                "from_state": v.state.value,
                "to_state": result.target.value,
                "room_id": room_id,
                "event_id": event_id,
                "detail": detail or {},
            }
        )
        v.state = result.target
        self.cards_changed = True
        if room_id is not None:
            self.rooms_changed.add(room_id)
        return result

    def update_visit(self, v: VisitRow, **values: Any) -> None:
        values.setdefault("state", v.state.value)
        values["updated_at"] = self.now
        if self.defer_writes:
            self._staged_visits.append({"b_visit_id": v.visit_id, **values})
        else:
            defer(self.conn, _UPDATE_VISIT, {"b_visit_id": v.visit_id, **values})
        v.updated_at = self.now
        if "current_step" in values:
            v.current_step = values["current_step"]
        if "priority" in values:
            v.priority = values["priority"]

    def room_version_after(self, room_id: str) -> int:
        """The snapshot version `room_id` will have once this transaction commits (what a
        queue entry written now is stamped with: `finish` bumps each changed room once)."""
        lock = self.locked.get(room_id)
        if lock is None:
            # Every queue write locks its room first; a write that did not would leave the
            # snapshot builders' `room_version > since` reads unable to see it.
            raise AssertionError(f"queue entry of room {room_id} written without its room lock")
        return lock.version + 1

    def update_entry(self, v: VisitRow, **values: Any) -> None:
        self.flush()
        assert v.entry_id is not None
        assert v.entry_room is not None
        defer(
            self.conn,
            _UPDATE_ENTRY,
            {
                "b_entry_id": v.entry_id,
                "room_version": self.room_version_after(v.entry_room),
                **values,
            },
        )
        for key, attr in (
            ("state", "entry_state"),
            ("call_count", "call_count"),
            ("desk", "desk"),
            ("sort_priority", "sort_priority"),
            ("order_key", "order_key"),
        ):
            if key in values:
                setattr(v, attr, values[key])
        self.rooms_changed.add(v.entry_room)

    def insert_entry(
        self,
        v: VisitRow,
        *,
        room_id: str,
        ticket_number: int,
        order_key: str,
        arrival_key: str | None = None,
        lease_id: str | None = None,
        station_id: str | None = None,
    ) -> None:
        """Queue `v` as WAITING in `room_id` (the caller has checked the transition)."""
        values = {
            "visit_id": v.visit_id,
            "step_index": v.current_step,
            "room_id": room_id,
            "service_day": v.service_day,
            "ticket_number": ticket_number,
            "lease_id": lease_id,
            "station_id": station_id,
            "state": "WAITING",
            "priority": v.priority,
            "sort_priority": v.priority,
            "order_key": order_key,
            "arrival_key": arrival_key or order_key,
            "call_count": 0,
            "checked_in_at": self.now,
            "room_version": self.room_version_after(room_id),
        }
        if self.defer_writes:
            v.entry_id = None  # set by flush()
            self._staged_entries.append((v, values))
        else:
            result = self.conn.execute(_INSERT_ENTRY, values)
            assert result.inserted_primary_key is not None
            v.entry_id = int(result.inserted_primary_key[0])
        v.entry_room = room_id
        v.entry_state = "WAITING"
        v.entry_step = v.current_step
        v.ticket_number = ticket_number
        v.call_count = 0
        v.desk = None
        v.sort_priority = v.priority
        v.order_key = order_key
        v.arrival_key = arrival_key or order_key
        self.rooms_changed.add(room_id)

    def finish(self) -> Changes:
        """Write the staged audit rows and bump the changed rooms' and documents' versions."""
        self.flush()
        if self._audit:
            defer(self.conn, _INSERT_AUDIT, self._audit)
        if self.rooms_changed:
            defer(self.conn, _BUMP_ROOMS, {"b_ids": sorted(self.rooms_changed), "b_now": self.now})
        kinds = [
            k
            for k, changed in (
                ("cards", self.cards_changed),
                ("rooms", self.rooms_directory_changed),
            )
            if changed
        ]
        if kinds:
            defer(self.conn, _BUMP_DOCUMENTS, {"b_ids": kinds, "b_now": self.now})
        return self.changes()

    def changes(self) -> Changes:
        return Changes(
            rooms=frozenset(self.rooms_changed),
            announcements=tuple(self.announcements),
            cards_changed=self.cards_changed,
            leases=frozenset(self.leases_changed),
            rooms_directory_changed=self.rooms_directory_changed,
        )


def active_entry_filter() -> ColumnElement[bool]:
    return queue_entries.c.state.in_(ACTIVE_ENTRY_STATES)


def room_day_filter(room_id: str, day: date) -> ColumnElement[bool]:
    return and_(queue_entries.c.room_id == room_id, queue_entries.c.service_day == day)
