"""The assistant's own sentences, in Korean, English, Chinese and Japanese.

Only facts from the visit, the room directory and the map go into them: a ticket number,
a place in line, a wait in minutes, a room and its floor. Never another patient's data.
"""

from __future__ import annotations

from central.engine import VisitView
from central.wayfinding.directions import josa
from protocol.base import LocalizedText
from protocol.hospital_map import Route
from protocol.messages import DirectoryRoom


def _t(ko: str, en: str, zh: str, ja: str) -> LocalizedText:
    return LocalizedText(ko=ko, en=en, zh=zh, ja=ja)


def _all(t: LocalizedText) -> tuple[str, str, str, str]:
    return t.ko, t.en, t.get("zh"), t.get("ja")


def _ro(word: str) -> str:
    """The particle 'to' for `word`: 로 after a vowel or ㄹ, 으로 after other finals."""
    last = word[-1:] if word else ""
    if not ("\uac00" <= last <= "\ud7a3"):
        return "(으)로"
    final = (ord(last) - 0xAC00) % 28
    return "로" if final in (0, 8) else "으로"


def join(*parts: LocalizedText) -> LocalizedText:
    """Sentences one after the other, language by language."""
    return _t(
        " ".join(p.ko for p in parts),
        " ".join(p.en for p in parts),
        "".join(p.get("zh") for p in parts),
        "".join(p.get("ja") for p in parts),
    )


def _minutes(seconds: int) -> int:
    return max(1, round(seconds / 60))


def room_location(room: DirectoryRoom) -> LocalizedText:
    """'내과 1진료실은 2층에 있습니다.'"""
    ko, en, zh, ja = _all(room.name)
    f = room.floor_label
    return _t(
        f"{josa(ko, '은', '는')} {f}에 있습니다.",
        f"{en} is on {f}.",
        f"{zh}在{f}。",
        f"{ja}は{f}にあります。",
    )


def route_intro(route: Route, floor: str | None) -> LocalizedText:
    """'가는 길(약 40m):' followed by the route's short steps."""
    m = round(route.length_m)
    steps = route.steps
    head = _t(
        f"가는 길(약 {m}m):",
        f"The way there (about {m} m):",
        f"路线（约{m}米）：",
        f"道順（約{m}m）：",
    )
    if not steps:
        return head
    return _t(
        head.ko + " " + " ".join(s.ko for s in steps),
        head.en + " " + " ".join(s.en for s in steps),
        head.get("zh") + "".join(s.get("zh") for s in steps),
        head.get("ja") + "".join(s.get("ja") for s in steps),
    )


def no_match(desk: LocalizedText, floor: str | None) -> LocalizedText:
    """Nothing fits: say so and send the patient to the help desk."""
    ko, en, zh, ja = _all(desk)
    f = floor or "1F"
    return _t(
        f"죄송합니다. 그 질문에는 답을 찾지 못했습니다. {f} {ko}에 물어봐 주세요.",
        f"Sorry, I could not find an answer to that. Please ask at {en} on {f}.",
        f"抱歉，没有找到这个问题的答案。请到{f}的{zh}咨询。",
        f"申し訳ありません。その質問への答えが見つかりませんでした。{f}の{ja}でお尋ねください。",
    )


def ask_room_staff(room: DirectoryRoom) -> LocalizedText:
    ko, en, zh, ja = _all(room.name)
    f = room.floor_label
    return _t(
        f"{f} {ko}의 의사나 간호사에게 물어보세요.",
        f"Ask the doctor or nurse of {en} ({f}).",
        f"请询问{f}{zh}的医生或护士。",
        f"{f}の{ja}の医師か看護師にお尋ねください。",
    )


def ask_nurse_station(station: LocalizedText) -> LocalizedText:
    ko, en, zh, ja = _all(station)
    return _t(
        f"{ko}에서 도와드립니다.",
        f"The staff at {en} will help you.",
        f"{zh}的工作人员会帮助您。",
        f"{ja}でお手伝いします。",
    )


def wait(
    v: VisitView,
    room: DirectoryRoom | None,
    position: int | None,
    wait_s: int | None,
    low_s: int | None,
    high_s: int | None,
) -> LocalizedText:
    """The patient's own place in line and expected wait."""
    rko, ren, rzh, rja = _all(room.name) if room else ("진료실", "the room", "诊室", "診察室")
    n = v.ticket_number
    if v.queue_state == "CALLED":
        return _t(
            f"지금 {n}번을 부르고 있습니다! {rko}{_ro(rko)} 바로 가세요.",
            f"Number {n} is being called now! Go to {ren} straight away.",
            f"现在正在叫{n}号！请马上去{rzh}。",
            f"ただいま{n}番をお呼びしています！すぐに{rja}へお越しください。",
        )
    if v.queue_state == "ONGOING":
        return _t(
            f"지금 {rko}에서 진료 중입니다.",
            f"You are being seen in {ren} now.",
            f"您正在{rzh}就诊。",
            f"ただいま{rja}で受診中です。",
        )
    if v.queue_state == "WAITING" and position is not None:
        ahead = position - 1
        if wait_s is not None:
            m = _minutes(wait_s)
            rng = ""
            rng_en = ""
            if low_s is not None and high_s is not None:
                lo, hi = _minutes(low_s), _minutes(high_s)
                rng, rng_en = f"({lo}~{hi}분)", f" ({lo} to {hi} min)"
                rzh_rng, rja_rng = f"（{lo}~{hi}分钟）", f"（{lo}〜{hi}分）"
            else:
                rzh_rng = rja_rng = ""
            return _t(
                f"{rko} 대기 {n}번, 앞에 {ahead}명이 있습니다. "
                f"예상 대기 시간은 약 {m}분{rng}입니다.",
                f"You are number {n} at {ren}, with {ahead} ahead of you. "
                f"Expected wait: about {m} min{rng_en}.",
                f"您是{rzh}的{n}号，前面还有{ahead}人。预计等待约{m}分钟{rzh_rng}。",
                f"{rja}の{n}番で、前に{ahead}人います。予想待ち時間は約{m}分{rja_rng}です。",
            )
        return _t(
            f"{rko} 대기 {n}번, 앞에 {ahead}명이 있습니다.",
            f"You are number {n} at {ren}, with {ahead} ahead of you.",
            f"您是{rzh}的{n}号，前面还有{ahead}人。",
            f"{rja}の{n}番で、前に{ahead}人います。",
        )
    return _state_text(v, room)


def _state_text(v: VisitView, room: DirectoryRoom | None) -> LocalizedText:
    rko, ren, rzh, rja = _all(room.name) if room else ("진료실", "the room", "诊室", "診察室")
    state = v.state.value
    if state == "ON_HOLD":
        return _t(
            "지금 순서가 잠시 보류되어 있습니다. 진료실 직원에게 말씀해 주세요.",
            "Your place is on hold for now. Please speak to the room's staff.",
            "您的排号暂时保留中，请告诉诊室工作人员。",
            "順番は一時保留中です。診察室のスタッフにお声がけください。",
        )
    if state in ("FINISHED", "CANCELLED", "NO_SHOW"):
        return _t(
            "오늘 대기 중인 순서가 없습니다. 도움이 필요하시면 1층 원무과에 물어보세요.",
            "You are not in any line today. For help, ask at the 1F reception desk.",
            "您今天没有排队。如需帮助，请到1楼挂号处咨询。",
            "本日お待ちの順番はありません。1階の受付でお尋ねください。",
        )
    return _t(
        f"아직 대기 줄에 들어가지 않으셨습니다. {rko} 앞 단말기에 카드를 대 주세요.",
        f"You are not in the line yet. Tap your card at the station by {ren}.",
        f"您还没有排队。请在{rzh}旁的终端刷卡。",
        f"まだ順番待ちに入っていません。{rja}前の端末にカードをかざしてください。",
    )


def where_to_go(v: VisitView, room: DirectoryRoom | None) -> LocalizedText:
    """Where the patient should be now."""
    if room is None:
        return _state_text(v, room)
    rko, ren, rzh, rja = _all(room.name)
    f = room.floor_label
    if v.queue_state == "CALLED":
        return wait(v, room, None, None, None, None)
    return _t(
        f"지금은 {f} {rko}{_ro(rko)} 가시면 됩니다.",
        f"Please go to {ren} on {f}.",
        f"请前往{f}的{rzh}。",
        f"{f}の{rja}へお越しください。",
    )


def next_step(v: VisitView, rooms: dict[str, DirectoryRoom]) -> LocalizedText:
    """The patient's current or next step of the day."""
    todo = [s for s in v.steps if not s.done]
    if not todo:
        return payment_now()
    s = todo[0]
    room = rooms.get(s.room_id)
    lko, len_, lzh, lja = _all(s.label)
    where = _all(room.name) if room else ("", "", "", "")
    f = room.floor_label if room else ""
    rest = len(todo) - 1
    return _t(
        f"다음은 {lko}입니다({f} {where[0]}). 그 뒤에 남은 순서는 {rest}개입니다.",
        f"Next: {len_} ({where[1]}, {f}). After that, {rest} more step(s).",
        f"下一步：{lzh}（{f}{where[2]}）。之后还有{rest}项。",
        f"次は{lja}です（{f}{where[3]}）。その後、残り{rest}件です。",
    )


def missed_call(v: VisitView, room: DirectoryRoom | None) -> LocalizedText:
    """What happened to the patient's own call."""
    rko, ren, rzh, rja = _all(room.name) if room else ("진료실", "the room", "诊室", "診察室")
    n = v.ticket_number
    if v.queue_state == "CALLED":
        return _t(
            f"지금 {n}번을 부르고 있습니다. 바로 {rko}{_ro(rko)} 가세요.",
            f"Number {n} is being called right now. Go to {ren} straight away.",
            f"现在正在叫{n}号，请马上去{rzh}。",
            f"ただいま{n}番をお呼びしています。すぐに{rja}へお越しください。",
        )
    if v.queue_state == "WAITING" and v.call_count > 0:
        return _t(
            f"{n}번은 다시 대기 줄에 들어가 있습니다. 곧 다시 부릅니다.",
            f"Number {n} is back in the line and will be called again soon.",
            f"{n}号已重新排队，很快会再次叫号。",
            f"{n}番は再び順番待ちに戻っています。まもなく再度お呼びします。",
        )
    return _state_text(v, room)


def payment_now() -> LocalizedText:
    return _t(
        "오늘 진료와 검사가 모두 끝났습니다. 수납 창구에서 계산해 주세요.",
        "All of today's steps are done. Please pay at a payment desk.",
        "今天的诊疗和检查都已结束，请到收费窗口缴费。",
        "本日の診察と検査はすべて終わりました。会計窓口でお支払いください。",
    )


def payment_not_yet() -> LocalizedText:
    return _t(
        "아직 남은 진료가 있으니, 모두 끝난 뒤에 수납해 주세요.",
        "You still have steps left today; pay after they are all done.",
        "您今天还有未完成的项目，请全部结束后再缴费。",
        "まだ残りの受診がありますので、すべて終わってからお支払いください。",
    )
