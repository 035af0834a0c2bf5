"""Valid example messages, one per message type, for round-trip and fuzz tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from protocol.base import LocalizedText, Message
from protocol.hospital_map import Building, Floor, HospitalMap, MapEdge, MapNode, Route
from protocol.ids import card_hash
from protocol.journey import State
from protocol.messages import (
    Ack,
    CallAnnouncement,
    CardEntry,
    CheckInEvent,
    DirectoryCards,
    DirectoryConfig,
    DirectoryMap,
    DirectoryRoom,
    DirectoryRooms,
    DirectoryRoutes,
    EventBatch,
    EventReject,
    Lease,
    LeaseRequestEvent,
    QueueEntry,
    ReaderHealth,
    ReaderHealthEvent,
    RoomQueueSnapshot,
    StationScreen,
    StationStatus,
    TapEvent,
    TicketBlock,
    UnknownCardEvent,
    VisitStepInfo,
)

SITE_KEY = b"test-site-key-0123456789abcdef!!"
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
DAY = date(2026, 11, 27)
HLC = "001795772000000.000000.st-1"
XRAY = LocalizedText(ko="영상의학과 X-ray실", en="X-ray room")


def sample_map() -> HospitalMap:
    return HospitalMap(
        buildings=[Building(building_id="main", name=LocalizedText(ko="본관", en="Main"))],
        floors=[
            Floor(floor_id="f1", building_id="main", level=1, label="1F", width_m=80, height_m=40)
        ],
        nodes=[
            MapNode(node_id="st-1", floor_id="f1", kind="station", x=5, y=20),
            MapNode(node_id="c1", floor_id="f1", kind="corridor", x=40, y=20),
            MapNode(node_id="xray", floor_id="f1", kind="room", x=60, y=10, room_id="xray-1"),
        ],
        edges=[
            MapEdge(a="st-1", b="c1", kind="corridor", length_m=35, step_free=True),
            MapEdge(a="c1", b="xray", kind="door", length_m=22, step_free=True),
        ],
    )


def sample_route() -> Route:
    return Route(
        from_node="st-1",
        to_node="xray",
        step_free=True,
        nodes=["st-1", "c1", "xray"],
        length_m=57,
        steps=[LocalizedText(ko="복도를 따라 곧장 가세요", en="Go straight along the corridor")],
    )


def entry(ticket: int, position: int | None = None, state: str = "WAITING") -> QueueEntry:
    return QueueEntry(
        visit_id=f"v{ticket}",
        ticket_number=ticket,
        masked_name="김*수",
        state=state,  # type: ignore[arg-type]
        priority=5,
        position=position,
        estimated_wait_s=600 if position else None,
    )


def all_examples() -> list[Message]:
    """One valid instance of every message type."""
    h = card_hash(SITE_KEY, "04A23B1C")
    events = [
        CheckInEvent(
            kind="check_in",
            event_id=uuid.uuid4(),
            station_seq=1,
            hlc=HLC,
            wall_time=NOW,
            card_hash=h,
            visit_id="v1",
            room_id="xray-1",
            step_index=0,
            service_day=DAY,
            ticket_number=101,
            lease_id="l1",
        ),
        TapEvent(
            kind="tap",
            event_id=uuid.uuid4(),
            station_seq=2,
            hlc=HLC,
            wall_time=NOW,
            card_hash=h,
            visit_id="v1",
            outcome="already_waiting",
        ),
        UnknownCardEvent(
            kind="unknown_card",
            event_id=uuid.uuid4(),
            station_seq=3,
            hlc=HLC,
            wall_time=NOW,
            card_hash=h,
        ),
        ReaderHealthEvent(
            kind="reader_health",
            event_id=uuid.uuid4(),
            station_seq=4,
            hlc=HLC,
            wall_time=NOW,
            reader="front",
            status="disconnected",
            detail="usb unplugged",
        ),
        LeaseRequestEvent(
            kind="lease_request",
            event_id=uuid.uuid4(),
            station_seq=5,
            hlc=HLC,
            wall_time=NOW,
            room_ids=["xray-1"],
        ),
    ]
    return [
        EventBatch(station_id="st-1", sent_at=NOW, events=events),
        Ack(
            station_id="st-1",
            acked_through=4,
            rejects=[
                EventReject(
                    station_seq=3,
                    event_id=uuid.uuid4(),
                    reason="unknown_card",
                    message_ko="원무과로 가세요",
                    message_en="Please go to reception",
                )
            ],
            central_time=NOW,
            central_hlc="001795772000100.000000.central",
        ),
        Lease(
            station_id="st-1",
            version=3,
            issued_at=NOW,
            blocks=[
                TicketBlock(lease_id="l1", room_id="xray-1", service_day=DAY, first=101, last=150)
            ],
        ),
        StationStatus(
            station_id="st-1",
            online=True,
            sent_at=NOW,
            software_version="0.1.0",
            outbox_depth=2,
            oldest_unsent_age_s=1.5,
            readers=[ReaderHealth(name="front", driver="pcsc", status="ok")],
            clock_offset_ms=-120,
            last_central_contact=NOW,
        ),
        RoomQueueSnapshot(
            room_id="xray-1",
            version=7,
            service_day=DAY,
            generated_at=NOW,
            now_calling=[entry(100, state="CALLED")],
            ongoing=[],
            waiting=[entry(101, 1), entry(102, 2)],
            served_today=12,
            estimated_wait_s=900,
        ),
        CallAnnouncement(
            announcement_id=uuid.uuid4(),
            room_id="xray-1",
            room_name=XRAY,
            ticket_number=100,
            masked_name="김*수",
            call_count=1,
            called_at=NOW,
        ),
        DirectoryRooms(
            kind="rooms",
            version=1,
            rooms=[
                DirectoryRoom(
                    room_id="xray-1",
                    name=XRAY,
                    department_id="radiology",
                    department_name=LocalizedText(ko="영상의학과", en="Radiology"),
                    kind="imaging",
                    floor_label="1F",
                    node_id="xray",
                    avg_service_s=300,
                )
            ],
        ),
        DirectoryCards(
            kind="cards",
            version=1,
            service_day=DAY,
            cards=[
                CardEntry(
                    card_hash=h,
                    visit_id="v1",
                    masked_name="김*수",
                    state=State.REGISTERED,
                    steps=[VisitStepInfo(room_id="xray-1", label=XRAY)],
                    current_step=0,
                )
            ],
        ),
        DirectoryConfig(
            kind="config",
            version=1,
            site_name=LocalizedText(ko="한빛병원", en="Hanbit Hospital"),
            timezone="Asia/Seoul",
            service_day=DAY,
            phone_page_url="https://h.example/p",
        ),
        DirectoryMap(kind="map", version=1, map=sample_map()),
        DirectoryRoutes(kind="routes", version=1, map_version=1, routes=[sample_route()]),
        StationScreen(
            station_id="st-1",
            seq=1,
            kind="checked_in",
            shown_at=NOW,
            message=LocalizedText(ko="접수되었습니다", en="You are checked in"),
            ticket_number=101,
            room_id="xray-1",
            room_name=XRAY,
            position=3,
            estimated_wait_s=900,
            route=sample_route(),
        ),
    ]
