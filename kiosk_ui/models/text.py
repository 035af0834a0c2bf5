"""Patient-facing wording and formatting: Korean first, the second language beside it.

Every fixed sentence on a screen lives here with its four languages, so a language setting
changes the whole screen and the glyph tests can check each string actually shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from protocol.base import LocalizedText


@dataclass(frozen=True, slots=True)
class Bilingual:
    """A line in Korean and the second line below it (empty when the kiosk is Korean only)."""

    primary: str
    secondary: str


def T(ko: str, en: str, zh: str, ja: str) -> LocalizedText:
    return LocalizedText(ko=ko, en=en, zh=zh, ja=ja)


NOW_CALLING = T("지금 호출", "Now calling", "现在呼叫", "ただいまお呼びしています")
NEXT_UP = T("다음 순서", "Next", "下一位", "次の順番")
EST_WAIT = T("예상 대기", "Estimated wait", "预计等候", "予想待ち時間")
SERVED_TODAY = T("오늘 진료", "Seen today", "今日已就诊", "本日の診察")
NOBODY_CALLED = T("호출 대기 중", "No one called yet", "暂无呼叫", "呼び出し待ち")
NOBODY_WAITING = T(
    "대기 중인 분이 없습니다", "No one is waiting", "无人等候", "お待ちの方はいません"
)
ROOM_CLOSED = T("진료 마감", "Closed", "已停诊", "受付終了")
OFFLINE = T(
    "연결이 끊겼습니다 · 화면이 최신이 아닐 수 있습니다",
    "Offline · this screen may be out of date",
    "连接中断 · 画面可能不是最新",
    "接続が切れています · 表示が最新でない可能性があります",
)
LAST_UPDATED = T("마지막 갱신", "Last updated", "最后更新", "最終更新")
NO_DATA = T("정보를 불러오는 중입니다", "Loading the queue", "正在加载", "読み込み中です")
TAP_CARD = T("카드를 대 주세요", "Please tap your card", "请刷卡", "カードをタッチしてください")
TAP_HINT = T(
    "아래 표시된 곳에 카드를 대면 접수됩니다",
    "Hold your card on the reader below",
    "请将卡片放在下方读卡器上",
    "下の読み取り部にカードをかざしてください",
)
YOUR_NUMBER = T("내 번호", "Your number", "您的号码", "あなたの番号")
PLACE_IN_LINE = T("대기 순서", "Place in line", "排队位置", "順番")
WAY_TO_ROOM = T("가는 길", "How to get there", "路线", "行き方")
PREP = T("검사 전 안내", "Before your exam", "检查前须知", "検査前のご案内")
ON_YOUR_PHONE = T("휴대폰으로 보기", "On your phone", "用手机查看", "スマホで見る")
YOU_ARE_HERE = T("현재 위치", "You are here", "您在这里", "現在地")
STATION_DOWN = T(
    "잠시만 기다려 주세요",
    "Please wait a moment",
    "请稍候",
    "少々お待ちください",
)
STATION_DOWN_DETAIL = T(
    "이 안내기는 준비 중입니다. 가까운 직원에게 도움을 요청하세요.",
    "This station is getting ready. Please ask a member of staff for help.",
    "本机正在准备中。请向附近的工作人员求助。",
    "この端末は準備中です。近くの職員にお声がけください。",
)
ESTIMATE_NOTE = T("(추정)", "(estimate)", "(估计)", "(推定)")
ORDINAL_NEXT = T("바로 다음", "You are next", "下一位就是您", "次の番です")


def bilingual(text: LocalizedText, lang: str) -> Bilingual:
    """Korean, and the second language (none when the kiosk is set to Korean only)."""
    if lang == "ko":
        return Bilingual(text.ko, "")
    return Bilingual(text.ko, text.get(lang))


def minutes_text(seconds: int | None) -> LocalizedText | None:
    """An expected wait as calm, rounded words: 약 15분 / about 15 min."""
    if seconds is None:
        return None
    if seconds < 90:
        return T("곧 호출", "very soon", "即将叫号", "まもなく")
    minutes = round(seconds / 60)
    if minutes >= 60:
        # Past an hour precision is noise; five-minute steps read better.
        minutes = 5 * round(minutes / 5)
        h, m = divmod(minutes, 60)
        ko = f"약 {h}시간" + (f" {m}분" if m else "")
        en = f"about {h} h" + (f" {m} min" if m else "")
        zh = f"约 {h} 小时" + (f" {m} 分钟" if m else "")
        ja = f"約 {h} 時間" + (f" {m} 分" if m else "")
        return T(ko, en, zh, ja)
    return T(f"약 {minutes}분", f"about {minutes} min", f"约 {minutes} 分钟", f"約 {minutes} 分")


def position_text(position: int | None, estimate: bool) -> LocalizedText | None:
    """Place in line: 3번째 / 3rd in line (an offline guess says so)."""
    if position is None:
        return None
    if position == 1:
        text = ORDINAL_NEXT
    else:
        text = T(
            f"{position}번째",
            f"{_ordinal(position)} in line",
            f"第 {position} 位",
            f"{position} 番目",
        )
    if estimate:
        return T(
            f"{text.ko} {ESTIMATE_NOTE.ko}",
            f"{text.en} {ESTIMATE_NOTE.en}",
            f"{text.zh} {ESTIMATE_NOTE.zh}",
            f"{text.ja} {ESTIMATE_NOTE.ja}",
        )
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def count_text(n: int) -> LocalizedText:
    """A count of patients: 12명 / 12."""
    return T(f"{n}명", f"{n}", f"{n} 人", f"{n} 名")


def desk_text(desk: str) -> LocalizedText:
    """Where to go inside the room: '2번 창구 / Desk 2'."""
    return T(f"{desk}번 창구", f"Desk {desk}", f"{desk} 号窗口", f"{desk} 番窓口")


def clock_text(when: datetime) -> str:
    """HH:MM in the kiosk's local time."""
    return when.astimezone().strftime("%H:%M")


def last_updated_text(when: datetime | None) -> LocalizedText:
    """'마지막 갱신 09:41 / Last updated 09:41' (or that nothing has arrived yet)."""
    if when is None:
        return NO_DATA
    hhmm = clock_text(when)
    return T(
        f"{LAST_UPDATED.ko} {hhmm}",
        f"{LAST_UPDATED.en} {hhmm}",
        f"{LAST_UPDATED.zh} {hhmm}",
        f"{LAST_UPDATED.ja} {hhmm}",
    )


def floor_room_text(room: LocalizedText, floor_label: str | None) -> LocalizedText:
    """'2F 영상의학과' style: the floor first, as the elevator button says it."""
    if not floor_label:
        return room
    return T(
        f"{floor_label} {room.ko}",
        f"{floor_label} {room.en}",
        f"{floor_label} {room.get('zh')}",
        f"{floor_label} {room.get('ja')}",
    )


def spoken_call(ticket_number: int, room: LocalizedText, desk: str | None) -> str:
    """The Korean sentence spoken for a call (number and room; never a name)."""
    where = f"{room.ko} {desk}번" if desk else room.ko
    return f"{ticket_number}번 환자분, {where}으로 와 주세요."


HELP = T("도움말", "Help", "帮助", "ヘルプ")
HELP_TITLE = T(
    "무엇을 도와드릴까요?",
    "How can we help?",
    "需要什么帮助?",
    "何をお手伝いしましょうか?",
)
HELP_LOADING = T("잠시만 기다려 주세요", "One moment, please", "请稍候", "少々お待ちください")
HELP_UNAVAILABLE = T(
    "지금은 도움말을 쓸 수 없습니다. 안내 데스크에 문의해 주세요",
    "Help is not available right now — please ask at the information desk",
    "目前无法使用帮助,请到服务台咨询",
    "現在ヘルプはご利用いただけません。案内デスクにお尋ねください",
)
BACK = T("돌아가기", "Back", "返回", "戻る")
