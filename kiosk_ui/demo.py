"""Example documents for screenshots and the benchmark: a two-floor map, a queue, screens."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from protocol.base import LocalizedText
from protocol.hospital_map import Building, Floor, HospitalMap, MapEdge, MapNode, Route
from protocol.messages import (
    CallAnnouncement,
    DirectoryMap,
    DirectoryRoom,
    DirectoryRooms,
    QueueEntry,
    RoomQueueSnapshot,
    ScreenKind,
    StationScreen,
)

ROOM_ID = "rad-xray-1"
STATION_ID = "st-lobby"
NOW = datetime(2026, 11, 27, 9, 41, tzinfo=UTC)
DAY = date(2026, 11, 27)
ROOM_NAME = LocalizedText(
    ko="영상의학과 X-ray 1실",
    en="Radiology X-ray Room 1",
    zh="放射科 X光 1室",
    ja="放射線科 X線 1室",
)
_NAMES = ["김*수", "이*영", "박*준", "최*희", "정*호", "강*미", "조*현", "윤*아", "J*** S****"]


def hospital_map() -> HospitalMap:
    """Lobby station on 1F, elevator to 2F, X-ray room down the 2F corridor."""
    n = MapNode
    return HospitalMap(
        buildings=[Building(building_id="main", name=LocalizedText(ko="본관", en="Main building"))],
        floors=[
            Floor(floor_id="f1", building_id="main", level=1, label="1F", width_m=60, height_m=40),
            Floor(floor_id="f2", building_id="main", level=2, label="2F", width_m=60, height_m=40),
        ],
        nodes=[
            n(node_id=STATION_ID, floor_id="f1", kind="station", x=8, y=32),
            n(node_id="f1-hall", floor_id="f1", kind="corridor", x=30, y=32),
            n(node_id="f1-east", floor_id="f1", kind="corridor", x=52, y=32),
            n(node_id="f1-west", floor_id="f1", kind="corridor", x=30, y=8),
            n(node_id="f1-lab", floor_id="f1", kind="room", x=52, y=12, room_id="lab-1"),
            n(node_id="f1-elev", floor_id="f1", kind="elevator", x=30, y=20, group="elev-a"),
            n(node_id="f2-elev", floor_id="f2", kind="elevator", x=30, y=20, group="elev-a"),
            n(node_id="f2-hall", floor_id="f2", kind="corridor", x=30, y=32),
            n(node_id="f2-east", floor_id="f2", kind="corridor", x=52, y=32),
            n(node_id="f2-north", floor_id="f2", kind="corridor", x=30, y=6),
            n(node_id="f2-xray", floor_id="f2", kind="room", x=52, y=14, room_id=ROOM_ID),
            n(node_id="f2-ct", floor_id="f2", kind="room", x=10, y=6, room_id="rad-ct-1"),
        ],
        edges=[
            MapEdge(a=STATION_ID, b="f1-hall", kind="corridor", length_m=22, step_free=True),
            MapEdge(a="f1-hall", b="f1-east", kind="corridor", length_m=22, step_free=True),
            MapEdge(a="f1-hall", b="f1-elev", kind="corridor", length_m=12, step_free=True),
            MapEdge(a="f1-elev", b="f1-west", kind="corridor", length_m=12, step_free=True),
            MapEdge(a="f1-east", b="f1-lab", kind="door", length_m=20, step_free=True),
            MapEdge(a="f1-elev", b="f2-elev", kind="elevator", length_m=10, step_free=True),
            MapEdge(a="f2-elev", b="f2-hall", kind="corridor", length_m=12, step_free=True),
            MapEdge(a="f2-elev", b="f2-north", kind="corridor", length_m=14, step_free=True),
            MapEdge(a="f2-hall", b="f2-east", kind="corridor", length_m=22, step_free=True),
            MapEdge(a="f2-east", b="f2-xray", kind="door", length_m=18, step_free=True),
            MapEdge(a="f2-north", b="f2-ct", kind="corridor", length_m=20, step_free=True),
        ],
    )


def route() -> Route:
    """The route from the lobby station to the X-ray room, with three short steps."""
    return Route(
        from_node=STATION_ID,
        to_node="f2-xray",
        step_free=True,
        nodes=[STATION_ID, "f1-hall", "f1-elev", "f2-elev", "f2-hall", "f2-east", "f2-xray"],
        length_m=106,
        steps=[
            LocalizedText(
                ko="앞으로 20m 가서 엘리베이터를 타세요",
                en="Go 20 m ahead and take the elevator",
                zh="向前走20米，乘坐电梯",
                ja="20m進んでエレベーターに乗ってください",
            ),
            LocalizedText(
                ko="2층에서 내려 오른쪽 복도로 가세요",
                en="Get off at 2F and follow the corridor right",
                zh="在2楼下电梯，沿右侧走廊走",
                ja="2階で降りて右の廊下へ進んでください",
            ),
            LocalizedText(
                ko="왼쪽 두 번째 문이 X-ray 1실입니다",
                en="X-ray Room 1 is the second door on the left",
                zh="左侧第二个门是X光1室",
                ja="左側2番目のドアがX線1室です",
            ),
        ],
    )


def directory_map(version: int = 1) -> DirectoryMap:
    """The map as central publishes it."""
    return DirectoryMap(kind="map", version=version, map=hospital_map())


def directory_rooms(version: int = 1) -> DirectoryRooms:
    """The room directory (just the rooms the demo map has doors for)."""
    dept = LocalizedText(ko="영상의학과", en="Radiology", zh="放射科", ja="放射線科")
    return DirectoryRooms(
        kind="rooms",
        version=version,
        rooms=[
            DirectoryRoom(
                room_id=ROOM_ID,
                name=ROOM_NAME,
                department_id="rad",
                department_name=dept,
                kind="imaging",
                floor_label="2F",
                node_id="f2-xray",
                avg_service_s=300,
            )
        ],
    )


def snapshot(
    version: int = 1,
    *,
    room_id: str = ROOM_ID,
    calling: int | None = 101,
    waiting: int = 9,
    desk: str | None = None,
) -> RoomQueueSnapshot:
    """A busy room: one called, `waiting` in line."""
    first = (calling or 100) + 1

    def entry(i: int, ticket: int, state: str, position: int | None) -> QueueEntry:
        return QueueEntry(
            desk=desk if state == "CALLED" else None,
            visit_id=f"v{ticket}",
            ticket_number=ticket,
            masked_name=_NAMES[i % len(_NAMES)],
            state=state,
            priority=5,
            position=position,
            estimated_wait_s=300 * position if position else None,
        )

    return RoomQueueSnapshot(
        room_id=room_id,
        version=version,
        service_day=DAY,
        generated_at=NOW,
        now_calling=[entry(0, calling, "CALLED", None)] if calling else [],
        ongoing=[],
        waiting=[entry(i + 1, first + i, "WAITING", i + 1) for i in range(waiting)],
        served_today=37,
        estimated_wait_s=300 * waiting,
    )


def call(
    ticket: int = 101, *, room_id: str = ROOM_ID, desk: str | None = None, at: datetime = NOW
) -> CallAnnouncement:
    """A first call of `ticket`."""
    return CallAnnouncement(
        desk=desk,
        announcement_id=uuid.uuid4(),
        room_id=room_id,
        room_name=ROOM_NAME,
        ticket_number=ticket,
        masked_name="김*수",
        call_count=1,
        called_at=at,
    )


_MESSAGES: dict[str, LocalizedText] = {
    "idle": LocalizedText(ko="카드를 대 주세요", en="Please tap your card"),
    "checked_in": LocalizedText(
        ko="접수되었습니다", en="You are checked in", zh="已为您登记", ja="受付しました"
    ),
    "already_waiting": LocalizedText(
        ko="이미 접수되어 있습니다",
        en="You are already in line",
        zh="您已在排队",
        ja="受付済みです",
    ),
    "called_now": LocalizedText(
        ko="지금 호출 중입니다. 진료실로 가세요",
        en="You are being called. Please go to the room now",
        zh="正在呼叫您，请前往诊室",
        ja="ただいまお呼びしています。お部屋へどうぞ",
    ),
    "in_exam": LocalizedText(ko="진료 중입니다", en="You are in your exam"),
    "unknown_card": LocalizedText(
        ko="오늘 예약을 찾지 못했습니다. 1층 원무과에서 도와드리겠습니다.",
        en="We could not find a visit today. Reception on 1F will help you.",
        zh="未找到您今天的预约。一楼挂号处会为您提供帮助。",
        ja="本日のご予約が見つかりません。1階受付でご案内します。",
    ),
    "visit_finished": LocalizedText(
        ko="오늘 진료가 모두 끝났습니다. 수납은 1층에서 하세요.",
        en="Your visit is complete today. Please pay at 1F.",
        zh="您今天的就诊已全部结束。请到一楼缴费。",
        ja="本日の診療はすべて終わりました。お会計は1階です。",
    ),
    "no_ticket": LocalizedText(
        ko="번호표를 드리지 못했습니다. 직원에게 문의하세요.",
        en="We could not give you a number. Please ask a member of staff.",
    ),
    "read_error": LocalizedText(
        ko="카드를 다시 한 번 대 주세요", en="Please tap your card once more"
    ),
    "refused": LocalizedText(
        ko="지금은 접수할 수 없습니다. 직원에게 문의하세요.",
        en="We cannot check you in right now. Please ask a member of staff.",
    ),
}


def screen(
    kind: ScreenKind, seq: int = 1, *, offline: bool = False, with_route: bool = True
) -> StationScreen:
    """The station screen the edge daemon would send for `kind`."""
    result = kind in ("checked_in", "already_waiting", "called_now", "in_exam")
    return StationScreen(
        station_id=STATION_ID,
        seq=seq,
        kind=kind,
        shown_at=NOW,
        message=_MESSAGES[kind],
        ticket_number=117 if result else None,
        room_id=ROOM_ID if result else None,
        room_name=ROOM_NAME if result else None,
        floor_label="2F" if result else None,
        position=3 if kind in ("checked_in", "already_waiting") else None,
        position_is_estimate=offline,
        estimated_wait_s=900 if kind in ("checked_in", "already_waiting") else None,
        route=route() if result and with_route else None,
        prep_notes=LocalizedText(
            ko="금속 장신구는 미리 빼 주세요",
            en="Please take off metal jewellery",
            zh="请提前摘下金属饰品",
            ja="金属のアクセサリーは外してください",
        )
        if result
        else None,
        phone_url="https://hospital.example/p/7Hc2kQ" if result else None,
        offline=offline,
        last_central_contact=NOW if offline else None,
    )


# --- central's help assistant (shapes of /api/v1/assistant/top-questions and /ask) ----------

TOP_QUESTIONS = [
    ("wait", "대기 시간이 얼마나 남았나요?", "How long is my wait?", "我还要等多久？",
     "待ち時間はどのくらいですか？"),
    ("where_to_go", "지금 어디로 가야 하나요?", "Where do I go now?", "我现在该去哪里？",
     "今どこに行けばいいですか？"),
    ("next_step", "다음 순서는 뭔가요?", "What's next for me?", "我下一步做什么？",
     "次は何をすればいいですか？"),
    ("restroom", "화장실은 어디인가요?", "Where is the restroom?", "洗手间在哪里？",
     "トイレはどこですか？"),
    ("payment", "수납은 어디서 하나요?", "Where do I pay?", "在哪里缴费？", "会計はどこですか？"),
    ("missed_call", "호출을 놓쳤어요. 어떻게 하죠?", "I missed my call, what now?",
     "我错过了叫号，怎么办？", "呼び出しを聞き逃しました。どうすればいいですか？"),
]  # fmt: skip


def top_questions(lang: str = "ko") -> dict[str, Any]:
    """A top-questions reply like central's (the FAQ's six ranked questions)."""
    questions = []
    for qid, ko, en, zh, ja in TOP_QUESTIONS:
        label = {"ko": ko, "en": en, "zh": zh, "ja": ja}
        questions.append({"id": qid, "text": label[lang], "label": label})
    return {"lang": lang, "questions": questions}


def payment_route() -> Route:
    """From the lobby station to the payment desk at the east end of the 1F hall."""
    return Route(
        from_node=STATION_ID,
        to_node="f1-east",
        step_free=True,
        nodes=[STATION_ID, "f1-hall", "f1-east"],
        length_m=44,
        steps=[
            LocalizedText(
                ko="앞으로 40m 가세요",
                en="Go 40 m straight ahead",
                zh="向前走40米",
                ja="40m まっすぐ進んでください",
            ),
            LocalizedText(
                ko="복도 끝 오른쪽이 수납 창구입니다",
                en="The payment desk is at the end, on the right",
                zh="走廊尽头右侧是缴费窗口",
                ja="廊下の突き当たり右側が会計窓口です",
            ),
        ],
    )


def answer(question: str = "수납은 어디서 하나요?", lang: str = "ko") -> dict[str, Any]:
    """An /ask reply like central's: the payment desk, with the way there."""
    text = {
        "ko": "수납은 1층 원무과 수납 창구에서 합니다.",
        "en": "You pay at the payment desk on 1F.",
        "zh": "请在1楼缴费窗口缴费。",
        "ja": "お会計は1階の会計窓口でお願いします。",
    }
    return {
        "kind": "place",
        "topic": "payment",
        "lang": lang,
        "text": text[lang],
        "answer": text,
        "live": False,
        "sources": [{"type": "faq", "id": "payment"}],
        "route": payment_route().model_dump(mode="json"),
        "suggestions": [],
        "score": 0.9,
        "backend": "retrieval",
    }
