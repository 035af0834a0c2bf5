"""Patient-facing sentences of the station screen: Korean first, English beside, zh and ja."""

from __future__ import annotations

from protocol.base import LocalizedText
from protocol.messages import ScreenKind


def screen_message(kind: ScreenKind, number: int | None = None) -> LocalizedText:
    """The main sentence for a screen kind (with the ticket number where there is one)."""
    n = "" if number is None else str(number)
    if kind == "checked_in":
        return LocalizedText(
            ko=f"접수되었습니다. 번호는 {n}번입니다.",
            en=f"You are checked in. Your number is {n}.",
            zh=f"已登记。您的号码是 {n} 号。",
            ja=f"受付しました。番号は {n} 番です。",
        )
    if kind == "already_waiting":
        if number is None:
            return LocalizedText(
                ko="이미 접수되어 기다리고 계십니다.",
                en="You are already checked in and waiting.",
                zh="您已登记，正在等候。",
                ja="すでに受付済みで、お待ちいただいています。",
            )
        return LocalizedText(
            ko=f"이미 기다리고 계십니다. 번호는 {n}번입니다.",
            en=f"You are already waiting. Your number is {n}.",
            zh=f"您已在等候。您的号码是 {n} 号。",
            ja=f"すでにお待ちいただいています。番号は {n} 番です。",
        )
    if kind == "called_now":
        return LocalizedText(
            ko="지금 호출되었습니다. 진료실로 들어가세요.",
            en="You have been called. Please go in now.",
            zh="正在叫您的号。请现在进去。",
            ja="呼ばれています。今お入りください。",
        )
    if kind == "in_exam":
        return LocalizedText(
            ko="지금 진료 중으로 되어 있습니다.",
            en="Your exam is in progress.",
            zh="您正在就诊中。",
            ja="ただいま診察中です。",
        )
    if kind == "visit_finished":
        return LocalizedText(
            ko="오늘 진료가 모두 끝났습니다. 안녕히 가세요.",
            en="Your visit is finished for today. Thank you.",
            zh="您今天的就诊已全部结束。谢谢。",
            ja="本日の受診はすべて終わりました。ありがとうございました。",
        )
    if kind == "unknown_card":
        return LocalizedText(
            ko="접수 창구로 가 주세요.",
            en="Please go to the reception desk.",
            zh="请到挂号处。",
            ja="受付窓口へお越しください。",
        )
    if kind == "no_ticket":
        return LocalizedText(
            ko="접수되었습니다. 번호는 잠시 후에 알려 드립니다.",
            en="You are checked in. Your number will be given shortly.",
            zh="已登记。稍后会告诉您号码。",
            ja="受付しました。番号はまもなくお知らせします。",
        )
    if kind == "read_error":
        return LocalizedText(
            ko="카드를 다시 대 주세요.",
            en="Please tap your card again.",
            zh="请再刷一次卡。",
            ja="もう一度カードをかざしてください。",
        )
    if kind == "refused":
        return LocalizedText(
            ko="지금 이 기기에서 접수할 수 없습니다. 접수 창구로 가 주세요.",
            en="This station cannot check you in right now. Please go to the reception desk.",
            zh="此设备暂时无法登记。请到挂号处。",
            ja="この端末では現在受付できません。受付窓口へお越しください。",
        )
    return LocalizedText(
        ko="카드를 대 주세요.",
        en="Please tap your card.",
        zh="请刷卡。",
        ja="カードをかざしてください。",
    )
