"""Request and response models of the HTTP API (the OpenAPI document is generated from them)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from protocol.base import ID_PATTERN, LocalizedText, Model, RoomId
from protocol.journey import State
from protocol.messages import CallAnnouncement, ReaderHealth

STAFF = ("nurse", "reception", "admin")
"""Roles that may act on queues and visits (checked once auth lands, issue #7)."""
VIEWERS = ("nurse", "reception", "admin")
"""Roles that may read staff views (full names, audit). Not technicians: they keep the fleet,
events, dead letters and health, never patients' names (central.auth.roles)."""
TECH = ("admin", "technician")
"""Roles that may read the fleet, events and dead letters."""

# ---------------------------------------------------------------------------------------------
# bodies


class ActorBody(Model):
    """Who does it: the logged-in staff member, whatever `actor` says."""

    actor: str = Field(
        default="staff",
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f]+$",
        description="Ignored when the caller is logged in: the audit log records the token's "
        "user name. Only the API alone without login (tests) writes this value.",
    )


class CallBody(ActorBody):
    """Call a patient to a desk."""

    desk: str | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Desk or bed to call to; omitted means the room's single desk.",
    )


class TransferBody(ActorBody):
    """Move a patient to another room's queue."""

    to_room_id: RoomId


class CheckInBody(ActorBody):
    """Queue a registered visit in its current step's room."""

    room_id: RoomId | None = Field(
        default=None, description="Must be the current step's room when given."
    )
    by_phone: bool = Field(
        default=False, description="True when the patient checked in on the phone page."
    )


class CardCheckInBody(ActorBody):
    """Check a card in at a staff desk reader."""

    card_uid: str = Field(
        min_length=8, max_length=64, description="Card UID as read (hex; hashed at once)."
    )


class RoomOpenBody(ActorBody):
    """Open or close a room to new check-ins."""

    open: bool = Field(description="True opens, false closes (the queue can still be called).")


# ---------------------------------------------------------------------------------------------
# queries


MAX_ID = 2**63 - 1  # database ids are 64-bit integers
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Query(Model):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VisitsQuery(_Query):
    """Search visits."""

    service_day: date | None = Field(default=None, description="Service day (default today).")
    room_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Only visits queued in this room."
    )
    after: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Page after this visit_id."
    )
    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")

    @field_validator("service_day", mode="before")
    @classmethod
    def _iso_day(cls, value: Any) -> Any:
        # pydantic would read "0" or "1700000000" as a Unix time; the API takes YYYY-MM-DD.
        if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
            raise ValueError("expected a date as YYYY-MM-DD")
        return value


class AuditQuery(_Query):
    """Audit log rows (journey transitions)."""

    visit_id: str | None = Field(default=None, pattern=ID_PATTERN, description="One visit.")
    room_id: str | None = Field(default=None, pattern=ID_PATTERN, description="One room.")
    after_id: int = Field(default=0, ge=0, le=MAX_ID, description="Page after this audit_id.")
    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")


class EventsQuery(_Query):
    """Committed station events."""

    station_id: str | None = Field(default=None, pattern=ID_PATTERN, description="One station.")
    after_id: int = Field(default=0, ge=0, le=MAX_ID, description="Page after this id.")
    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")


class PageQuery(_Query):
    """Keyset pagination."""

    after_id: int = Field(default=0, ge=0, le=MAX_ID, description="Page after this id.")
    limit: int = Field(default=100, ge=1, le=1000, description="Page size.")


# ---------------------------------------------------------------------------------------------
# responses


class _Out(Model):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class StepOut(_Out):
    """One step of a visit."""

    step_index: int = Field(description="Position in the visit, from 0.")
    room_id: str = Field(description="Room the step happens in (after transfers).")
    planned_room_id: str = Field(description="Room the step was booked in.")
    label: LocalizedText = Field(description="What the step is.")
    kind: str = Field(description="exam, consultation, payment ...")
    done: bool = Field(description="True once completed.")


class VisitOut(_Out):
    """A visit as staff see it."""

    visit_id: str = Field(description="Visit id.")
    patient_id: str = Field(description="Patient id.")
    patient_name: str = Field(description="Full name (staff views only).")
    masked_name: str = Field(description="Masked name, as public screens show it.")
    registration_no: str = Field(description="Hospital registration number.")
    service_day: date = Field(description="Service day of the visit.")
    state: State = Field(description="Journey state.")
    priority: int = Field(description="Priority class; 0 is the most urgent.")
    step_free: bool = Field(description="Needs step-free routes.")
    current_step: int = Field(description="Index of the current step.")
    steps: list[StepOut] = Field(description="Ordered steps.")
    room_id: str | None = Field(description="Room whose queue the visit is in now.")
    ticket_number: int | None = Field(description="Ticket number in that room today.")
    queue_state: str | None = Field(description="WAITING, ON_HOLD, CALLED or ONGOING.")
    call_count: int = Field(description="Times called in this room.")
    desk: str | None = Field(description="Desk it was called to.")
    external_ref: str | None = Field(description="Id in the hospital's EMR, when imported.")
    updated_at: datetime = Field(description="Last change.")


class OpResultOut(Model):
    """A committed operation: the visit after it and the rooms it changed."""

    visit: VisitOut = Field(description="The visit after the operation.")
    rooms_changed: list[str] = Field(description="Rooms whose queue snapshot version went up.")
    announcements: list[CallAnnouncement] = Field(description="Calls announced by it.")


class RoomOpenOut(Model):
    """A room opened or closed."""

    room_id: str = Field(description="The room.")
    open: bool = Field(description="Open to new check-ins.")


class VisitPage(Model):
    """A page of visits."""

    items: list[VisitOut] = Field(description="Visits, by visit_id.")
    next_after: str | None = Field(description="Pass as `after` for the next page; null at end.")


class AuditOut(_Out):
    """One journey transition."""

    audit_id: int = Field(description="Id (increasing).")
    at: datetime = Field(description="When (central's clock).")
    service_day: date = Field(description="Service day.")
    visit_id: str = Field(description="Visit.")
    action: str = Field(description="Journey action (check_in, call, start ...).")
    trigger: str = Field(description="tap, staff, system, timer, emr or phone.")
    actor: str = Field(description="Who or what did it.")
    from_state: str = Field(description="State before.")
    to_state: str = Field(description="State after.")
    room_id: str | None = Field(description="Room involved.")
    event_id: str | None = Field(description="Station event that caused it.")
    detail: dict[str, Any] = Field(description="Extra facts (ticket, desk ...).")


class VisitDetail(Model):
    """A visit and its journey so far."""

    visit: VisitOut = Field(description="The visit.")
    journey: list[AuditOut] = Field(description="Every transition, oldest first.")


class AuditPage(Model):
    """A page of audit rows."""

    items: list[AuditOut] = Field(description="Rows, by audit_id.")
    next_after_id: int | None = Field(description="Pass as `after_id` for the next page.")


class EventOut(_Out):
    """A station event as central committed it."""

    id: int = Field(description="Id (increasing).")
    station_id: str = Field(description="Station.")
    station_seq: int = Field(description="Station sequence number.")
    event_id: str | None = Field(description="Event UUID.")
    kind: str = Field(description="Event kind.")
    hlc: str = Field(description="Station HLC.")
    wall_time: datetime = Field(description="Station wall clock.")
    received_at: datetime = Field(description="Central's receive time.")
    outcome: str = Field(description="applied, recorded or rejected.")
    reason: str | None = Field(description="Reject reason.")
    payload: dict[str, Any] = Field(description="The event as sent.")


class EventPage(Model):
    """A page of station events."""

    items: list[EventOut] = Field(description="Events, by id.")
    next_after_id: int | None = Field(description="Pass as `after_id` for the next page.")


class DeadLetterOut(_Out):
    """A payload the bridge could not use."""

    id: int = Field(description="Id (increasing).")
    received_at: datetime = Field(description="When.")
    topic: str = Field(description="MQTT topic it came on.")
    reason: str = Field(description="Why it was refused.")
    detail: str = Field(description="Where in the payload, and what.")
    station_id: str | None = Field(description="Station of the topic.")
    payload_excerpt: str = Field(description="First 2,000 characters.")


class DeadLetterPage(Model):
    """A page of dead letters."""

    items: list[DeadLetterOut] = Field(description="Dead letters, by id.")
    next_after_id: int | None = Field(description="Pass as `after_id` for the next page.")


class StationOut(Model):
    """A station: sync progress from the database, health from its last status message."""

    station_id: str = Field(description="Station id.")
    name: LocalizedText | None = Field(description="Name (null when only heard on MQTT).")
    enabled: bool | None = Field(description="False when central refuses its batches.")
    acked_through: int | None = Field(description="Highest contiguous station_seq committed.")
    last_batch_at: datetime | None = Field(description="When its last batch was applied.")
    lease_version: int | None = Field(description="Version of its ticket lease.")
    online: bool | None = Field(description="Online per its last status; null if never heard.")
    last_seen: datetime | None = Field(description="When central received its last status.")
    software_version: str | None = Field(description="nfc-hospital version it runs.")
    outbox_depth: int | None = Field(description="Events not yet acknowledged.")
    oldest_unsent_age_s: float | None = Field(description="Age of its oldest unacked event.")
    readers: list[ReaderHealth] = Field(description="Reader health.")
    clock_offset_ms: int | None = Field(description="Its clock minus central's.")
    alarms: list[str] = Field(description="Active alarms.")


class StationsOut(Model):
    """The fleet."""

    items: list[StationOut] = Field(description="Stations, by id.")


class Health(Model):
    """Liveness and readiness."""

    status: str = Field(description="ok or degraded.")
    database: bool = Field(description="The database answered.")
    mqtt_connected: bool = Field(description="The bridge is connected to the broker.")
    service_day: date | None = Field(description="Central's service day.")
    stations_online: int = Field(description="Stations whose last status says online.")
    ws_clients: int = Field(description="Open WebSocket connections.")
