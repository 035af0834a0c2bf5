"""The station's local decision on a tap: pure code over the cached documents, no I/O.

Everything the decision needs (cached directory, snapshots, leased numbers, local check-ins,
the event stamp with its seq, HLC and wall time) is passed in; it returns the event to write
and what to show. The station then writes the event durably and only then shows it.
"""

from __future__ import annotations

import dataclasses
import sys
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from edge.store.db import LeaseBlockRow, LocalCheckIn
from protocol.hospital_map import Route
from protocol.journey import State
from protocol.messages import (
    CardEntry,
    CheckInEvent,
    DirectoryCards,
    DirectoryConfig,
    DirectoryRoom,
    DirectoryRooms,
    DirectoryRoutes,
    LeaseRequestEvent,
    RoomQueueSnapshot,
    ScreenKind,
    TapEvent,
    TapOutcome,
    UnknownCardEvent,
)

StationEventModel = CheckInEvent | TapEvent | UnknownCardEvent | LeaseRequestEvent

# A visit in these states may be checked in by a tap (NO_SHOW: the journey lets a tap rejoin).
_CHECK_IN_STATES = frozenset({State.REGISTERED, State.NO_SHOW})
_FINISHED_STATES = frozenset({State.PAYMENT, State.FINISHED, State.CANCELLED})
_RECEPTION_STATES = frozenset({State.UNREGISTERED, State.ARRIVED})


@dataclass(frozen=True, slots=True)
class Stamp:
    """Identity and time of the next event: allocated by the station, passed in."""

    station_seq: int
    event_id: UUID
    hlc: str
    wall_time: datetime


class LocalCheckIns(Mapping[int, LocalCheckIn]):
    """Local check-ins by station_seq, indexed so a tap never scans them all.

    A long outage piles up thousands of them; the position estimate counts those ahead per
    (room, day, priority) with a bisect over sorted seqs, and a repeat tap finds its own
    by visit. Mutate only through `add`, `pop` and `replace`.
    """

    def __init__(self, items: Iterable[LocalCheckIn] = ()) -> None:
        self._by_seq: dict[int, LocalCheckIn] = {}
        # visit_id -> its check-ins' seqs, ascending (a short list: one or two a visit)
        self._by_visit: dict[str, list[int]] = {}
        # (room_id, service_day) -> priority -> sorted station_seqs
        self._seqs: dict[tuple[str, date], dict[int, list[int]]] = {}
        self.replace(items)

    def __getitem__(self, seq: int) -> LocalCheckIn:
        return self._by_seq[seq]

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_seq)

    def __len__(self) -> int:
        return len(self._by_seq)

    def add(self, c: LocalCheckIn) -> None:
        """Index `c` (replacing a check-in with the same seq)."""
        self.pop(c.station_seq, None)
        room_id = sys.intern(c.room_id)  # one string per room, not one per check-in
        if room_id is not c.room_id:
            c = dataclasses.replace(c, room_id=room_id)
        self._by_seq[c.station_seq] = c
        insort(self._by_visit.setdefault(c.visit_id, []), c.station_seq)
        by_priority = self._seqs.setdefault((c.room_id, c.service_day), {})
        insort(by_priority.setdefault(c.priority, []), c.station_seq)

    def pop(self, seq: int, default: LocalCheckIn | None = None) -> LocalCheckIn | None:
        """Remove and return the check-in with `seq` (`default` when there is none)."""
        c = self._by_seq.pop(seq, None)
        if c is None:
            return default
        visits = self._by_visit[c.visit_id]
        del visits[bisect_left(visits, seq)]
        if not visits:
            del self._by_visit[c.visit_id]
        key = (c.room_id, c.service_day)
        by_priority = self._seqs[key]
        seqs = by_priority[c.priority]
        del seqs[bisect_left(seqs, seq)]
        if not seqs:
            del by_priority[c.priority]
            if not by_priority:
                del self._seqs[key]
        return c

    def replace(self, items: Iterable[LocalCheckIn]) -> None:
        """Drop everything and index `items` instead (after seqs were renumbered)."""
        self._by_seq.clear()
        self._by_visit.clear()
        self._seqs.clear()
        for c in items:
            self.add(c)

    def of_visit(self, visit_id: str) -> list[LocalCheckIn]:
        """The visit's local check-ins, oldest first."""
        return [self._by_seq[seq] for seq in self._by_visit.get(visit_id, ())]

    def room_ids(self) -> set[str]:
        """Rooms with at least one local check-in."""
        return {room_id for room_id, _day in self._seqs}

    def count_ahead(
        self,
        room_id: str,
        day: date | None,
        priority: int,
        before_seq: int | None,
        shown: set[str],
    ) -> int:
        """Check-ins in `room_id` on `day` of `priority` or more urgent, earlier than
        `before_seq` (all when None), whose visit is not in `shown` (central's snapshot).
        """
        if day is None:
            return 0
        by_priority = self._seqs.get((room_id, day))
        if not by_priority:
            return 0
        ahead = 0
        for p, seqs in by_priority.items():  # at most 10 priority classes
            if p <= priority:
                ahead += len(seqs) if before_seq is None else bisect_left(seqs, before_seq)
        # A snapshot is bounded by the room's queue, not by the outage: walk its visits.
        for visit in shown:
            for seq in self._by_visit.get(visit, ()):
                c = self._by_seq[seq]
                if (
                    c.room_id == room_id
                    and c.service_day == day
                    and c.priority <= priority
                    and (before_seq is None or seq < before_seq)
                ):
                    ahead -= 1
        return ahead


class CardLookup(Protocol):
    """Today's cards by keyed hash: a dict, or the station database (`edge.station`)."""

    def get(self, card_hash: str, /) -> CardEntry | None: ...

    def __len__(self) -> int: ...


def lookup_many(cards: CardLookup, card_hashes: Sequence[str]) -> dict[str, CardEntry]:
    """Several cards at once (one query when `cards` has `get_many`)."""
    many = getattr(cards, "get_many", None)
    if many is not None:
        found: dict[str, CardEntry] = many(card_hashes)
        return found
    return {h: e for h in card_hashes if (e := cards.get(h)) is not None}


def _no_cards() -> dict[str, CardEntry]:
    return {}


@dataclass
class StationCache:
    """The station's copy of what central published, plus local check-ins.

    Today's cards are the one large part: the station looks them up in its database one at a
    time (`cards`, a `CardLookup`) and keeps only the cards document's envelope here.
    """

    cards_doc: DirectoryCards | None = None
    cards: CardLookup = field(default_factory=_no_cards)
    rooms: dict[str, DirectoryRoom] = field(default_factory=dict)
    config: DirectoryConfig | None = None
    routes: dict[tuple[str, str, bool], Route] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, RoomQueueSnapshot] = field(default_factory=dict)
    blocks: list[LeaseBlockRow] = field(default_factory=list)
    local: LocalCheckIns = field(default_factory=LocalCheckIns)
    lease_requested: set[str] = field(default_factory=set)
    fallback_day: date | None = None

    @property
    def service_day(self) -> date | None:
        """Central's service day: the config's, else the cards document's, else the stored one.

        The station's own clock never decides the day: a Pi's clock can be a day off.
        """
        if self.config is not None:
            return self.config.service_day
        if self.cards_doc is not None:
            return self.cards_doc.service_day
        return self.fallback_day

    def set_cards(self, doc: DirectoryCards, lookup: CardLookup | None = None) -> None:
        """Today's cards: found through `lookup` (the station database), else `doc.cards`."""
        self.cards_doc = doc
        self.cards = lookup if lookup is not None else {c.card_hash: c for c in doc.cards}

    def set_rooms(self, doc: DirectoryRooms) -> None:
        self.rooms = {r.room_id: r for r in doc.rooms}

    def set_routes(self, doc: DirectoryRoutes) -> None:
        self.routes = {(r.from_node, r.to_node, r.step_free): r for r in doc.routes}

    def remaining(self, room_id: str) -> int:
        """Ticket numbers left for `room_id` on the current service day."""
        day = self.service_day
        return sum(
            b.remaining for b in self.blocks if b.room_id == room_id and b.service_day == day
        )

    def snapshot(self, room_id: str) -> RoomQueueSnapshot | None:
        snap = self.snapshots.get(room_id)
        if snap is None or snap.service_day != self.service_day:
            return None
        return snap

    def stale_local(self, check_cards: bool = True) -> list[int]:
        """Local check-ins central now shows (or of another day): no longer needed.

        `check_cards`: also those whose card has moved on in the cards document (only a new
        cards document can change that, so a snapshot need not look the cards up).
        """
        out = []
        pending: list[tuple[int, LocalCheckIn]] = []
        day = self.service_day
        for seq, c in self.local.items():
            if c.service_day != day:
                out.append(seq)
                continue
            snap = self.snapshot(c.room_id)
            if snap is not None and c.visit_id in _visits(snap):
                out.append(seq)
                continue
            pending.append((seq, c))
        if check_cards and pending:
            entries = lookup_many(self.cards, [c.card_hash for _, c in pending])
            for seq, c in pending:
                entry = entries.get(c.card_hash)
                if entry is not None and (
                    entry.current_step != c.step_index or entry.state not in _CHECK_IN_STATES
                ):
                    out.append(seq)
        return out

    def route_to(self, location_node: str | None, room_id: str, step_free: bool) -> Route | None:
        """The route from the station to the room's door; step-free when the patient needs it."""
        room = self.rooms.get(room_id)
        if location_node is None or room is None or room.node_id is None:
            return None
        if step_free:
            return self.routes.get((location_node, room.node_id, True))
        return self.routes.get((location_node, room.node_id, False)) or self.routes.get(
            (location_node, room.node_id, True)
        )


def _visits(snap: RoomQueueSnapshot) -> set[str]:
    return {e.visit_id for e in (*snap.now_calling, *snap.ongoing, *snap.waiting)}


@dataclass(frozen=True, slots=True)
class Decision:
    """What a tap does: the events to write (in order) and what the screen shows."""

    events: list[StationEventModel]
    screen: ScreenKind
    visit_id: str | None = None
    room_id: str | None = None
    step_free: bool = False
    ticket_number: int | None = None
    position: int | None = None
    position_is_estimate: bool = False
    estimated_wait_s: int | None = None
    number_used: tuple[str, int] | None = None  # (lease_id, new next_number)
    local_checkin: LocalCheckIn | None = None


def _per_person_s(cache: StationCache, room_id: str) -> int:
    room = cache.rooms.get(room_id)
    if room is None:
        return 0
    snap = cache.snapshot(room_id)
    desks = snap.staff_on_duty if snap is not None and snap.staff_on_duty > 0 else room.capacity
    return room.avg_service_s // max(1, desks)


def estimate_position(
    cache: StationCache, room_id: str, priority: int, before_seq: int | None = None
) -> tuple[int, int | None]:
    """Place in line and expected wait for someone of `priority` joining `room_id` now.

    From the cached snapshot plus local check-ins it does not show yet (only those earlier
    than `before_seq` when given). Same-or-more-urgent priority goes first, like central.
    """
    snap = cache.snapshot(room_id)
    shown = _visits(snap) if snap is not None else set()
    ahead = 0
    if snap is not None:
        ahead += sum(1 for e in snap.waiting if e.priority <= priority)
    ahead += cache.local.count_ahead(room_id, cache.service_day, priority, before_seq, shown)
    per = _per_person_s(cache, room_id)
    return ahead + 1, (ahead * per if per else None)


def _take_number(cache: StationCache, room_id: str) -> tuple[str, int, int] | None:
    """(lease_id, number, new next_number) from the lowest usable block, or None."""
    day = cache.service_day
    for b in sorted(cache.blocks, key=lambda b: b.first):
        if b.room_id == room_id and b.service_day == day and b.remaining > 0:
            return b.lease_id, b.next_number, b.next_number + 1
    return None


def _tap(stamp: Stamp, card_hash: str, visit_id: str | None, outcome: TapOutcome) -> TapEvent:
    return TapEvent(
        kind="tap",
        event_id=stamp.event_id,
        station_seq=stamp.station_seq,
        hlc=stamp.hlc,
        wall_time=stamp.wall_time,
        card_hash=card_hash,
        visit_id=visit_id,
        outcome=outcome,
    )


def decide(
    cache: StationCache,
    card_hash: str,
    stamp: Stamp,
    next_stamp: Stamp,
    *,
    offline: bool,
    low_water: int = 5,
) -> Decision:
    """Decide a tap of the card with `card_hash`.

    `next_stamp` is used only when a lease request rides along after a check-in.
    """
    day = cache.service_day
    entry = cache.cards.get(card_hash)
    if entry is None:
        event = UnknownCardEvent(
            kind="unknown_card",
            event_id=stamp.event_id,
            station_seq=stamp.station_seq,
            hlc=stamp.hlc,
            wall_time=stamp.wall_time,
            card_hash=card_hash,
        )
        return Decision(events=[event], screen="unknown_card")
    visit = entry.visit_id
    if cache.cards_doc is None or cache.cards_doc.service_day != day:
        return Decision(events=[_tap(stamp, card_hash, visit, "not_today")], screen="unknown_card")
    if entry.state in _RECEPTION_STATES:
        # Not registered for today yet: reception registers the visit, the tap cannot.
        return Decision(events=[_tap(stamp, card_hash, visit, "not_today")], screen="unknown_card")
    if entry.state in _FINISHED_STATES or entry.current_step >= len(entry.steps):
        return Decision(
            events=[_tap(stamp, card_hash, visit, "visit_finished")], screen="visit_finished"
        )
    room_id = entry.steps[entry.current_step].room_id
    common = {"visit_id": visit, "room_id": room_id, "step_free": entry.step_free}

    # Central's room snapshot is fresher than the cards document for this room.
    snap = cache.snapshot(room_id)
    if snap is not None:
        for q in snap.now_calling:
            if q.visit_id == visit:
                return Decision(
                    events=[_tap(stamp, card_hash, visit, "called_now")],
                    screen="called_now",
                    ticket_number=q.ticket_number,
                    **common,  # type: ignore[arg-type]
                )
        for q in snap.ongoing:
            if q.visit_id == visit:
                return Decision(
                    events=[_tap(stamp, card_hash, visit, "in_exam")],
                    screen="in_exam",
                    ticket_number=q.ticket_number,
                    **common,  # type: ignore[arg-type]
                )
        for i, q in enumerate(snap.waiting):
            if q.visit_id == visit:
                return Decision(
                    events=[_tap(stamp, card_hash, visit, "already_waiting")],
                    screen="already_waiting",
                    ticket_number=q.ticket_number,
                    position=q.position or i + 1,
                    position_is_estimate=offline,
                    estimated_wait_s=q.estimated_wait_s,
                    **common,  # type: ignore[arg-type]
                )

    if entry.state == State.CALLED:
        return Decision(
            events=[_tap(stamp, card_hash, visit, "called_now")],
            screen="called_now",
            ticket_number=entry.ticket_number,
            **common,  # type: ignore[arg-type]
        )
    if entry.state in (State.ONGOING, State.COMPLETED):
        return Decision(
            events=[_tap(stamp, card_hash, visit, "in_exam")],
            screen="in_exam",
            ticket_number=entry.ticket_number,
            **common,  # type: ignore[arg-type]
        )
    if entry.state in (State.WAITING, State.ON_HOLD):
        # Waiting by central's word but not in the cached snapshot: we do not know the place
        # in line, so none is shown rather than a guess.
        return Decision(
            events=[_tap(stamp, card_hash, visit, "already_waiting")],
            screen="already_waiting",
            ticket_number=entry.ticket_number,
            **common,  # type: ignore[arg-type]
        )

    # REGISTERED (or NO_SHOW): checked in here already, and central has not caught up yet?
    for c in cache.local.of_visit(visit):
        if c.step_index == entry.current_step and c.service_day == day:
            position, wait = estimate_position(
                cache, room_id, entry.priority, before_seq=c.station_seq
            )
            return Decision(
                events=[_tap(stamp, card_hash, visit, "already_waiting")],
                screen="already_waiting",
                ticket_number=c.ticket_number,
                position=position,
                position_is_estimate=True,
                estimated_wait_s=wait,
                **common,  # type: ignore[arg-type]
            )

    taken = _take_number(cache, room_id)
    number = taken[1] if taken else None
    assert day is not None  # a cards document for `day` exists (checked above)
    checkin = CheckInEvent(
        kind="check_in",
        event_id=stamp.event_id,
        station_seq=stamp.station_seq,
        hlc=stamp.hlc,
        wall_time=stamp.wall_time,
        card_hash=card_hash,
        visit_id=visit,
        room_id=room_id,
        step_index=entry.current_step,
        service_day=day,
        ticket_number=number,
        lease_id=taken[0] if taken else None,
    )
    events: list[StationEventModel] = [checkin]
    left = cache.remaining(room_id) - (1 if taken else 0)
    if left < low_water and room_id not in cache.lease_requested:
        events.append(
            LeaseRequestEvent(
                kind="lease_request",
                event_id=next_stamp.event_id,
                station_seq=next_stamp.station_seq,
                hlc=next_stamp.hlc,
                wall_time=next_stamp.wall_time,
                room_ids=[room_id],
            )
        )
    position, wait = estimate_position(cache, room_id, entry.priority)
    local = LocalCheckIn(
        station_seq=stamp.station_seq,
        visit_id=visit,
        card_hash=card_hash,
        room_id=room_id,
        step_index=entry.current_step,
        service_day=day,
        ticket_number=number,
        priority=entry.priority,
        hlc=stamp.hlc,
    )
    return Decision(
        events=events,
        screen="checked_in" if taken else "no_ticket",
        ticket_number=number,
        position=position,
        position_is_estimate=True,
        estimated_wait_s=wait,
        number_used=(taken[0], taken[2]) if taken else None,
        local_checkin=local,
        **common,  # type: ignore[arg-type]
    )
