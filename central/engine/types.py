"""What the engine returns: read-only views and the changes an operation made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from protocol.base import LocalizedText
from protocol.journey import State
from protocol.messages import Ack, CallAnnouncement, EventReject

ACTIVE_ENTRY_STATES = ("WAITING", "ON_HOLD", "CALLED", "ONGOING")
"""Queue-entry states that occupy a room's queue (the others are history)."""


@dataclass(frozen=True, slots=True)
class Changes:
    """What one committed operation changed, for the bridge and the API to publish.

    `rooms`: rooms whose snapshot version went up (publish their `room_snapshot`).
    `announcements`: calls to announce now on the rooms' kiosks.
    `cards_changed`: today's cards directory changed (publish `directory_cards`).
    `leases`: stations whose `Lease` changed (publish `lease(station_id)`).
    `rooms_directory_changed`: a room opened/closed or was edited (publish `directory_rooms`).
    """

    rooms: frozenset[str] = frozenset()
    announcements: tuple[CallAnnouncement, ...] = ()
    cards_changed: bool = False
    leases: frozenset[str] = frozenset()
    rooms_directory_changed: bool = False

    def __or__(self, other: Changes) -> Changes:
        return Changes(
            rooms=self.rooms | other.rooms,
            announcements=self.announcements + other.announcements,
            cards_changed=self.cards_changed or other.cards_changed,
            leases=self.leases | other.leases,
            rooms_directory_changed=self.rooms_directory_changed or other.rooms_directory_changed,
        )

    @property
    def empty(self) -> bool:
        return not (
            self.rooms
            or self.announcements
            or self.cards_changed
            or self.leases
            or self.rooms_directory_changed
        )


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of a visit."""

    step_index: int
    room_id: str
    label: LocalizedText
    kind: str
    done: bool
    planned_room_id: str
    """The room the step was booked in (differs from `room_id` after a transfer)."""


@dataclass(frozen=True, slots=True)
class VisitView:
    """A visit as staff see it (no card UID; the full name only here, never on public screens)."""

    visit_id: str
    patient_id: str
    patient_name: str
    masked_name: str
    registration_no: str
    service_day: date
    state: State
    priority: int
    step_free: bool
    current_step: int
    steps: tuple[StepView, ...]
    room_id: str | None
    """The room whose queue the visit is in now (None when not queued)."""
    ticket_number: int | None
    """Ticket number in `room_id` today (None when not queued)."""
    queue_state: str | None
    """WAITING, ON_HOLD, CALLED or ONGOING when queued."""
    call_count: int
    desk: str | None
    external_ref: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OpResult:
    """A committed staff/phone/system operation: the visit after it, and what changed."""

    visit: VisitView
    changes: Changes


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A committed station batch.

    Publish `ack` on the station's ack topic only after this returns (it has committed).
    """

    ack: Ack
    applied: int
    """Events that changed state or were recorded (first delivery)."""
    duplicates: int
    """Events already committed before (replays); settled, ignored."""
    rejects: tuple[EventReject, ...]
    changes: Changes


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One journey transition, as written in the same transaction as the change."""

    audit_id: int
    at: datetime
    service_day: date
    visit_id: str
    action: str
    trigger: str
    actor: str
    from_state: str
    to_state: str
    room_id: str | None
    event_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One station event as central committed it."""

    id: int
    station_id: str
    station_seq: int
    event_id: str | None
    kind: str
    hlc: str
    wall_time: datetime
    received_at: datetime
    outcome: str
    """applied, recorded (kept, no state change) or rejected."""
    reason: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StationView:
    """A station and its sync progress."""

    station_id: str
    name: LocalizedText
    node_id: str | None
    enabled: bool
    acked_through: int
    last_batch_at: datetime | None
    lease_version: int


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A payload the bridge could not use, kept for people to look at."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    station_id: str | None
    payload_excerpt: str


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """What a wait estimator may know about a room."""

    room_id: str
    capacity: int
    avg_service_s: int
    open: bool


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """Expected wait in seconds, with an optional interval."""

    expected_s: int
    low_s: int | None = None
    high_s: int | None = None


@dataclass(frozen=True, slots=True)
class WaitLine:
    """Estimates for places 1 .. n of one waiting line, as parallel lists (index p - 1 is
    place p): a room snapshot's whole line with no object per place."""

    expected_s: list[int]
    low_s: list[int | None]
    high_s: list[int | None]


class WaitEstimator(Protocol):
    """Turns a place in line into an expected wait. Pure; called while building a snapshot."""

    def estimate(self, room: RoomInfo, position: int) -> WaitEstimate:
        """Wait for the patient at `position` (1 = next to be called)."""
        ...


# An estimator may also have `estimate_line(room, count) -> WaitLine`: `estimate` for places
# 1 .. count in one pass, the same figures (snapshots use it when present; see
# `reads.line_estimates`).


class SimpleEstimator:
    """position / capacity × average service time (a later issue brings a real estimator)."""

    def estimate(self, room: RoomInfo, position: int) -> WaitEstimate:
        return WaitEstimate(expected_s=round(position / room.capacity * room.avg_service_s))
