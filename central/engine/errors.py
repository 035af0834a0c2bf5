"""Why the engine refused something: one machine-readable reason, a Korean and an English message.

Every refusal the engine can give is listed in `REASONS` with the HTTP status the API should
map it to, so the API (one place) and the MQTT ack (`EventReject`) say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from central.store.errors import StorageError
from protocol.journey import Rejection


@dataclass(frozen=True, slots=True)
class Reason:
    """A documented refusal: HTTP status plus Korean and English message templates."""

    status: int
    ko: str
    en: str


# Templates use str.format fields filled by the engine (room_id, visit_id, state ...).
REASONS: dict[str, Reason] = {
    # from protocol.journey.apply
    "invalid_transition": Reason(409, "지금 상태에서는 할 수 없는 작업입니다.", "{detail}"),
    "visit_closed": Reason(409, "이미 종료된 방문입니다.", "{detail}"),
    "trigger_not_allowed": Reason(403, "이 작업은 여기에서 할 수 없습니다.", "{detail}"),
    # lookups
    "unknown_card": Reason(
        404,
        "오늘 등록된 방문이 없는 카드입니다. 원무과로 가 주세요.",
        "This card has no visit today. Please go to reception.",
    ),
    "unknown_visit": Reason(404, "방문 정보를 찾을 수 없습니다.", "No visit {visit_id}."),
    "unknown_room": Reason(404, "진료실을 찾을 수 없습니다.", "No room {room_id}."),
    "unknown_station": Reason(404, "등록되지 않은 단말기입니다.", "No station {station_id}."),
    "unknown_patient": Reason(404, "환자 정보를 찾을 수 없습니다.", "No patient {patient_id}."),
    # visit / card checks
    "card_finished": Reason(
        409,
        "오늘 진료가 이미 끝났습니다.",
        "This card's visit today is already over.",
    ),
    "card_mismatch": Reason(
        409,
        "카드와 방문 정보가 맞지 않습니다. 원무과로 가 주세요.",
        "This card does not belong to visit {visit_id}. Please go to reception.",
    ),
    "not_today": Reason(
        409, "오늘 진료가 아닙니다. 원무과로 가 주세요.", "Visit {visit_id} is not for today."
    ),
    "stale_service_day": Reason(
        409,
        "지난 진료일의 접수입니다. 원무과로 가 주세요.",
        "This check-in is for a past service day ({service_day}); today's queues started fresh.",
    ),
    "wrong_room": Reason(
        409,
        "이 진료실의 순서가 아닙니다. 안내에 따라 이동해 주세요.",
        "Visit {visit_id} is due in {expected_room}, not {room_id}.",
    ),
    "wrong_step": Reason(
        409,
        "진료 순서가 바뀌었습니다. 화면의 안내를 따라 주세요.",
        "Visit {visit_id} is at step {expected_step}, not step {step_index}.",
    ),
    "already_queued": Reason(
        409, "이미 대기 중입니다.", "Visit {visit_id} is already in the queue of {room_id}."
    ),
    "not_in_room": Reason(
        409,
        "이 진료실의 대기열에 없는 환자입니다.",
        "Visit {visit_id} is not in {room_id}'s queue.",
    ),
    # rooms and desks
    "room_closed": Reason(409, "지금은 운영하지 않는 진료실입니다.", "Room {room_id} is closed."),
    "queue_empty": Reason(409, "대기 중인 환자가 없습니다.", "Nobody is waiting in {room_id}."),
    "desk_busy": Reason(
        409,
        "이 창구에 이미 호출된 환자가 있습니다.",
        "Desk {desk} of {room_id} already has a called patient ({ticket_number}); "
        "start, recall or mark them missed first.",
    ),
    "same_room": Reason(409, "같은 진료실로는 옮길 수 없습니다.", "Visit is already in {room_id}."),
    "tickets_exhausted": Reason(
        503,
        "번호표를 더 발급할 수 없습니다. 원무과로 문의해 주세요.",
        "No ticket numbers left in {room_id} today.",
    ),
    # imports and admin
    "duplicate": Reason(409, "이미 있는 항목입니다.", "{detail}"),
    "invalid_input": Reason(422, "입력이 올바르지 않습니다.", "{detail}"),
    # station events
    "duplicate_event_id": Reason(
        409,
        "이미 처리된 이벤트입니다.",
        "Event id {event_id} was already used by another event.",
    ),
    "station_disabled": Reason(
        403, "사용이 중지된 단말기입니다.", "Station {station_id} is disabled."
    ),
}


__all__ = ["REASONS", "EngineError", "Reason", "Rejected", "StorageError"]


class EngineError(Exception):
    """Base class of everything `central.engine` raises on purpose."""


class Rejected(EngineError):
    """The engine refused an operation; nothing was written.

    `reason` is machine-readable (a key of `REASONS`); `message_ko` / `message_en` are for
    people; `status` is the HTTP status the API should answer with.
    """

    def __init__(self, reason: str, message_ko: str, message_en: str, status: int = 409) -> None:
        self.reason = reason
        self.message_ko = message_ko
        self.message_en = message_en
        self.status = status
        super().__init__(f"{reason}: {message_en}")

    @classmethod
    def of(cls, reason: str, **fields: object) -> Rejected:
        """Build the rejection `reason` from `REASONS`, filling its templates with `fields`."""
        spec = REASONS[reason]
        values = _Fields(fields)
        return cls(reason, spec.ko.format_map(values), spec.en.format_map(values), spec.status)

    @classmethod
    def from_journey(cls, rejection: Rejection) -> Rejected:
        """Wrap a `protocol.journey.apply` refusal, keeping its reason and messages."""
        status = REASONS[rejection.reason].status if rejection.reason in REASONS else 409
        return cls(rejection.reason, rejection.message_ko, rejection.message_en, status)


class _Fields(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"
