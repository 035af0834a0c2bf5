"""Every message that crosses a process boundary (DESIGN §4).

Each model forbids unknown keys and describes every field; `nfc-hospital protocol schema DIR`
writes their JSON Schemas.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from protocol.base import (
    ID_PATTERN,
    CardHash,
    HLCText,
    LocalizedText,
    MaskedName,
    Message,
    Model,
    RoomId,
    StationId,
    VisitId,
)
from protocol.hospital_map import HospitalMap, Route
from protocol.journey import State

MAX_BATCH_EVENTS = 500

# ---------------------------------------------------------------------------------------------
# station -> central: events


class _EventBase(Model):
    event_id: UUID = Field(description="Random id of the event; central dedups on it too.")
    station_seq: int = Field(
        ge=1, le=2**53, description="Per-station sequence number, 1, 2, 3 ... with no gaps."
    )
    hlc: HLCText = Field(description="The station's hybrid logical clock when the event happened.")
    wall_time: AwareDatetime = Field(
        description="The station's wall clock when the event happened (may be wrong; see hlc)."
    )


class CheckInEvent(_EventBase):
    """A tap that checked a patient in to a room's queue, decided by the station."""

    kind: Literal["check_in"] = Field(description="Event kind tag.")
    card_hash: CardHash
    visit_id: VisitId
    room_id: RoomId
    step_index: int = Field(
        ge=0, le=50, description="Which step of the visit this check-in is for."
    )
    service_day: date = Field(description="The service day the station believed it was.")
    ticket_number: int | None = Field(
        ge=1,
        le=99999,
        description="Number issued from the station's leased block; null when the block ran out "
        "offline (central then assigns one).",
    )
    lease_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The lease block the number came from."
    )


TapOutcome = Literal["already_waiting", "called_now", "in_exam", "visit_finished", "not_today"]


class TapEvent(_EventBase):
    """A known card tapped with no change of state (already waiting, visit finished ...)."""

    kind: Literal["tap"] = Field(description="Event kind tag.")
    card_hash: CardHash
    visit_id: VisitId | None = Field(description="The visit the card belongs to, if any today.")
    outcome: TapOutcome = Field(description="What the station told the patient.")


class UnknownCardEvent(_EventBase):
    """A card with no visit today: the patient was sent to reception."""

    kind: Literal["unknown_card"] = Field(description="Event kind tag.")
    card_hash: CardHash


ReaderState = Literal["ok", "degraded", "disconnected", "error"]


class ReaderHealthEvent(_EventBase):
    """A reader changed health (unplugged, recovered, erroring)."""

    kind: Literal["reader_health"] = Field(description="Event kind tag.")
    reader: str = Field(max_length=64, description="Reader name from the station config.")
    status: ReaderState = Field(description="New health.")
    detail: str = Field(default="", max_length=500, description="What happened, for technicians.")


class LeaseRequestEvent(_EventBase):
    """The station is running low on ticket numbers for these rooms (below the low-water mark)."""

    kind: Literal["lease_request"] = Field(description="Event kind tag.")
    room_ids: list[RoomId] = Field(min_length=1, max_length=500, description="Rooms running low.")


StationEvent = Annotated[
    CheckInEvent | TapEvent | UnknownCardEvent | ReaderHealthEvent | LeaseRequestEvent,
    Field(discriminator="kind"),
]


class EventBatch(Message):
    """A batch of events from a station's outbox, in station_seq order."""

    station_id: StationId
    sent_at: AwareDatetime = Field(description="Station wall time when the batch was sent.")
    events: list[StationEvent] = Field(
        min_length=1, max_length=MAX_BATCH_EVENTS, description="Events, oldest first."
    )

    @model_validator(mode="after")
    def _ordered(self) -> EventBatch:
        seqs = [e.station_seq for e in self.events]
        if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
            raise ValueError("events must be in strictly increasing station_seq order")
        return self


# ---------------------------------------------------------------------------------------------
# central -> station: ack, lease


class EventReject(Model):
    """One event central refused, and why. A rejected event is still settled: do not resend."""

    station_seq: int = Field(ge=1, description="The rejected event's sequence number.")
    event_id: UUID = Field(description="The rejected event's id.")
    reason: str = Field(max_length=64, description="Machine-readable reason code.")
    message_ko: str = Field(max_length=500, description="Korean explanation.")
    message_en: str = Field(max_length=500, description="English explanation.")


class Ack(Message):
    """Central committed every event of this station up to `acked_through`."""

    station_id: StationId
    acked_through: int = Field(
        ge=0, description="Highest contiguous station_seq that is committed (applied or rejected)."
    )
    rejects: list[EventReject] = Field(
        default_factory=list, max_length=MAX_BATCH_EVENTS, description="Refused events."
    )
    central_time: AwareDatetime = Field(
        description="Central's wall clock at commit (for clock offset)."
    )
    central_hlc: HLCText = Field(description="Central's HLC at commit.")


class TicketBlock(Model):
    """A block of ticket numbers one station may issue in one room on one service day."""

    lease_id: str = Field(pattern=ID_PATTERN, description="Id of this block.")
    room_id: RoomId
    service_day: date = Field(description="The day the numbers are for.")
    first: int = Field(ge=1, le=99999, description="First number of the block.")
    last: int = Field(ge=1, le=99999, description="Last number of the block (inclusive).")

    @model_validator(mode="after")
    def _range(self) -> TicketBlock:
        if self.last < self.first:
            raise ValueError(f"block {self.lease_id}: last {self.last} < first {self.first}")
        return self


class Lease(Message):
    """All blocks currently leased to a station (retained; replaces the previous lease)."""

    station_id: StationId
    version: int = Field(ge=1, description="Monotonic lease version; older ones are ignored.")
    issued_at: AwareDatetime = Field(description="Central's wall clock when issued.")
    blocks: list[TicketBlock] = Field(max_length=2000, description="Blocks, any order.")


# ---------------------------------------------------------------------------------------------
# station -> all: status (retained, also the last will)


class ReaderHealth(Model):
    """Health of one reader of a station."""

    name: str = Field(max_length=64, description="Reader name from the station config.")
    driver: str = Field(max_length=32, description="Driver type: nfcpy, pcsc, keyboard, simulated.")
    status: ReaderState = Field(description="Current health.")
    detail: str = Field(default="", max_length=500, description="Last error or device path.")


class StationStatus(Message):
    """A station's health, published retained; the broker publishes online=false as its will."""

    station_id: StationId
    online: bool = Field(description="False when published as the last will or on shutdown.")
    sent_at: AwareDatetime = Field(description="Station wall time.")
    software_version: str = Field(max_length=40, description="nfc-hospital version.")
    outbox_depth: int = Field(ge=0, description="Events not yet acknowledged by central.")
    oldest_unsent_age_s: float | None = Field(
        default=None, ge=0, description="Age of the oldest unacknowledged event, seconds."
    )
    readers: list[ReaderHealth] = Field(default_factory=list, max_length=16, description="Readers.")
    clock_offset_ms: int | None = Field(
        default=None, description="Station clock minus central clock, from the last ack."
    )
    last_central_contact: AwareDatetime | None = Field(
        default=None, description="When the station last heard from central."
    )
    alarms: list[str] = Field(
        default_factory=list, max_length=32, description="Active alarms: disk_full, no_tickets ..."
    )


# ---------------------------------------------------------------------------------------------
# central -> all: room snapshots and calls

QueueState = Literal["WAITING", "CALLED", "ONGOING"]


class QueueEntry(Model):
    """One patient in a room's queue, as public screens may show them."""

    visit_id: VisitId
    ticket_number: int = Field(ge=1, le=99999, description="Ticket number in this room today.")
    masked_name: MaskedName
    state: QueueState = Field(description="Waiting, called, or in the room.")
    priority: int = Field(ge=0, le=9, description="Priority class; 0 is the most urgent.")
    position: int | None = Field(
        default=None, ge=1, description="1 = next to be called; null unless waiting."
    )
    estimated_wait_s: int | None = Field(default=None, ge=0, description="Expected wait, seconds.")
    wait_low_s: int | None = Field(default=None, ge=0, description="80% interval, low end.")
    wait_high_s: int | None = Field(default=None, ge=0, description="95% bound, high end.")
    call_count: int = Field(default=0, ge=0, description="How many times called.")
    desk: str | None = Field(
        default=None, max_length=16, description="Desk or bed it was called to."
    )


class RoomQueueSnapshot(Message):
    """The whole queue of one room (retained). Receivers never go back to a lower version."""

    room_id: RoomId
    version: int = Field(ge=1, description="Monotonic per-room version.")
    service_day: date = Field(description="The service day the queue belongs to.")
    generated_at: AwareDatetime = Field(description="Central's wall clock.")
    open: bool = Field(default=True, description="False when the room is closed.")
    now_calling: list[QueueEntry] = Field(max_length=50, description="Called, not yet in the room.")
    ongoing: list[QueueEntry] = Field(max_length=50, description="In the room now.")
    waiting: list[QueueEntry] = Field(max_length=5000, description="Waiting, in call order.")
    served_today: int = Field(ge=0, description="Completed in this room today.")
    estimated_wait_s: int | None = Field(
        default=None, ge=0, description="Expected wait for someone checking in now."
    )
    staff_on_duty: int = Field(default=1, ge=0, le=100, description="Desks serving.")


class CallAnnouncement(Message):
    """A call to announce now on the room's kiosks (not retained)."""

    announcement_id: UUID = Field(description="Id; kiosks announce each id once.")
    room_id: RoomId
    room_name: LocalizedText = Field(description="Room name for the spoken call.")
    ticket_number: int = Field(ge=1, le=99999, description="The called number.")
    masked_name: MaskedName
    desk: str | None = Field(default=None, max_length=16, description="Desk or bed.")
    call_count: int = Field(ge=1, description="1 for the first call, 2 for a recall ...")
    called_at: AwareDatetime = Field(description="Central's wall clock.")


# ---------------------------------------------------------------------------------------------
# central -> all: directory documents (retained)

RoomKind = Literal[
    "exam", "imaging", "lab", "consultation", "procedure", "payment", "reception", "pharmacy"
]


class DirectoryRoom(Model):
    """A service point patients queue for."""

    room_id: RoomId
    name: LocalizedText = Field(description="Room name.")
    department_id: str = Field(pattern=ID_PATTERN, description="Department id.")
    department_name: LocalizedText = Field(description="Department name.")
    kind: RoomKind = Field(description="What happens there.")
    floor_label: str = Field(max_length=8, description="Floor as patients know it: 1F, B1 ...")
    node_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Door on the map.")
    open: bool = Field(default=True, description="False while closed.")
    avg_service_s: int = Field(ge=1, le=36000, description="Configured mean service time.")
    capacity: int = Field(default=1, ge=1, le=100, description="Desks serving in parallel.")
    prep_notes: LocalizedText | None = Field(
        default=None, description="Preparation notes (fasting, undressing ...)."
    )


class DirectoryRooms(Message):
    """All rooms."""

    kind: Literal["rooms"] = Field(description="Document kind tag.")
    version: int = Field(ge=1, description="Monotonic document version.")
    rooms: list[DirectoryRoom] = Field(max_length=5000, description="Rooms.")


class VisitStepInfo(Model):
    """One step of a visit as a station needs it."""

    room_id: RoomId
    label: LocalizedText = Field(description="What the step is (혈액검사 / Blood test).")


class CardEntry(Model):
    """Today's card of a visit: what a station needs to decide a tap offline."""

    card_hash: CardHash
    visit_id: VisitId
    masked_name: MaskedName
    state: State = Field(description="Journey state when the document was made.")
    steps: list[VisitStepInfo] = Field(min_length=1, max_length=20, description="Ordered steps.")
    current_step: int = Field(ge=0, description="Index of the current step.")
    priority: int = Field(default=5, ge=0, le=9, description="Priority class; 0 most urgent.")
    step_free: bool = Field(default=False, description="Needs step-free routes.")
    ticket_number: int | None = Field(
        default=None, ge=1, description="Ticket in the current room, when already checked in."
    )


class DirectoryCards(Message):
    """Today's cards as keyed hashes. Never a UID, a full name or a birth date."""

    kind: Literal["cards"] = Field(description="Document kind tag.")
    version: int = Field(ge=1, description="Monotonic document version.")
    service_day: date = Field(description="The day these visits are for.")
    cards: list[CardEntry] = Field(max_length=50000, description="Cards.")


class DirectoryConfig(Message):
    """Site settings that stations and kiosks follow."""

    kind: Literal["config"] = Field(description="Document kind tag.")
    version: int = Field(ge=1, description="Monotonic document version.")
    site_name: LocalizedText = Field(description="Hospital name.")
    timezone: str = Field(max_length=64, description="IANA time zone of the service day.")
    service_day: date = Field(description="Central's current service day.")
    day_starts_at: str = Field(
        default="04:00", pattern=r"^\d{2}:\d{2}$", description="Local time the service day turns."
    )
    phone_page_url: str = Field(max_length=300, description="Base URL of the patients' phone page.")
    lease_low_water: int = Field(default=5, ge=1, description="Ask for more numbers below this.")


class DirectoryMap(Message):
    """The hospital map."""

    kind: Literal["map"] = Field(description="Document kind tag.")
    version: int = Field(ge=1, description="Monotonic document version.")
    map: HospitalMap = Field(description="The map.")


class DirectoryRoutes(Message):
    """Precomputed routes from every station to every room, shortest and step-free."""

    kind: Literal["routes"] = Field(description="Document kind tag.")
    version: int = Field(ge=1, description="Monotonic document version.")
    map_version: int = Field(ge=1, description="The map version the routes were computed from.")
    routes: list[Route] = Field(max_length=100000, description="Routes.")


DirectoryDocument = Annotated[
    DirectoryRooms | DirectoryCards | DirectoryConfig | DirectoryMap | DirectoryRoutes,
    Field(discriminator="kind"),
]
DIRECTORY_KINDS = ("rooms", "cards", "config", "map", "routes")


# ---------------------------------------------------------------------------------------------
# edge daemon -> local station screen

ScreenKind = Literal[
    "idle",
    "checked_in",
    "already_waiting",
    "called_now",
    "in_exam",
    "unknown_card",
    "visit_finished",
    "no_ticket",
    "read_error",
    "refused",
]


class StationScreen(Message):
    """What the station screen shows after a tap (and `idle` to go back)."""

    station_id: StationId
    seq: int = Field(ge=1, description="Monotonic per daemon run; screens drop older ones.")
    kind: ScreenKind = Field(description="Which screen to show.")
    shown_at: AwareDatetime = Field(description="Station wall time.")
    message: LocalizedText = Field(description="The main sentence, calm and short.")
    ticket_number: int | None = Field(default=None, ge=1, description="The patient's number.")
    room_id: RoomId | None = Field(default=None, description="Where to go.")
    room_name: LocalizedText | None = Field(default=None, description="Room name.")
    floor_label: str | None = Field(default=None, max_length=8, description="Floor of the room.")
    position: int | None = Field(default=None, ge=1, description="Place in line (1 = next).")
    position_is_estimate: bool = Field(
        default=False, description="True when computed offline from a cached snapshot."
    )
    estimated_wait_s: int | None = Field(default=None, ge=0, description="Expected wait.")
    route: Route | None = Field(default=None, description="Route from this station to the room.")
    prep_notes: LocalizedText | None = Field(default=None, description="Preparation notes.")
    phone_url: str | None = Field(default=None, max_length=500, description="QR code target.")
    offline: bool = Field(default=False, description="True when central has not been heard lately.")
    last_central_contact: AwareDatetime | None = Field(default=None, description="Last heard.")


ALL_MESSAGES: tuple[type[Message], ...] = (
    EventBatch,
    Ack,
    Lease,
    StationStatus,
    RoomQueueSnapshot,
    CallAnnouncement,
    DirectoryRooms,
    DirectoryCards,
    DirectoryConfig,
    DirectoryMap,
    DirectoryRoutes,
    StationScreen,
)
