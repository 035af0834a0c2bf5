"""The journey state machine of a visit (DESIGN §3), as one table of data.

`TRANSITIONS` is the only place the rules live; `apply` reads it, the docs are rendered from
it (`nfc-hospital protocol journey-doc`), and the engine calls `apply` for every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where a visit is in the patient's day."""

    UNREGISTERED = "UNREGISTERED"
    ARRIVED = "ARRIVED"
    REGISTERED = "REGISTERED"
    WAITING = "WAITING"
    ON_HOLD = "ON_HOLD"
    CALLED = "CALLED"
    ONGOING = "ONGOING"
    COMPLETED = "COMPLETED"
    PAYMENT = "PAYMENT"
    FINISHED = "FINISHED"
    NO_SHOW = "NO_SHOW"
    CANCELLED = "CANCELLED"


class Trigger(StrEnum):
    """Who or what asked for a transition."""

    TAP = "tap"  # a card tapped at a station
    PHONE = "phone"  # the patient's phone page
    STAFF = "staff"  # a nurse or receptionist on the dashboard
    SYSTEM = "system"  # central's own follow-up (next step after completion)
    TIMER = "timer"  # a configured timeout (missed call, no-show)
    EMR = "emr"  # the hospital's records system (appointment import, payment)


class Action(StrEnum):
    """What is being done to the visit."""

    ARRIVE = "arrive"
    REGISTER = "register"
    CHECK_IN = "check_in"
    CALL = "call"
    RECALL = "recall"
    MISS = "miss"
    NO_SHOW = "no_show"
    REJOIN = "rejoin"
    HOLD = "hold"
    RELEASE = "release"
    TRANSFER = "transfer"
    START = "start"
    COMPLETE = "complete"
    NEXT_STEP = "next_step"
    TO_PAYMENT = "to_payment"
    PAY = "pay"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Rule:
    """One allowed transition."""

    action: Action
    source: State
    target: State
    triggers: frozenset[Trigger]
    note: str


S, T, A = State, Trigger, Action


def _r(action: Action, source: State, target: State, triggers: set[Trigger], note: str) -> Rule:
    return Rule(action, source, target, frozenset(triggers), note)


_BEFORE_ONGOING = (S.UNREGISTERED, S.ARRIVED, S.REGISTERED, S.WAITING, S.ON_HOLD, S.CALLED)

TRANSITIONS: tuple[Rule, ...] = (
    _r(
        A.ARRIVE, S.UNREGISTERED, S.ARRIVED, {T.TAP, T.PHONE, T.STAFF}, "patient is in the building"
    ),
    _r(A.REGISTER, S.UNREGISTERED, S.REGISTERED, {T.STAFF, T.EMR}, "appointment booked ahead"),
    _r(A.REGISTER, S.ARRIVED, S.REGISTERED, {T.STAFF, T.EMR}, "reception opens the visit"),
    _r(A.CHECK_IN, S.REGISTERED, S.WAITING, {T.TAP, T.PHONE, T.STAFF}, "joins the room's queue"),
    _r(A.CALL, S.WAITING, S.CALLED, {T.STAFF, T.SYSTEM}, "called to the room"),
    _r(A.RECALL, S.CALLED, S.CALLED, {T.STAFF}, "called again; counts toward no-show"),
    _r(
        A.MISS, S.CALLED, S.WAITING, {T.STAFF, T.TIMER}, "did not come; back in line after N others"
    ),
    _r(A.NO_SHOW, S.CALLED, S.NO_SHOW, {T.STAFF, T.TIMER}, "after the configured number of calls"),
    _r(A.REJOIN, S.NO_SHOW, S.WAITING, {T.STAFF, T.TAP}, "came back late; queued again"),
    _r(A.HOLD, S.WAITING, S.ON_HOLD, {T.STAFF}, "parked (e.g. gone for another test)"),
    _r(A.RELEASE, S.ON_HOLD, S.WAITING, {T.STAFF}, "back in line at their old place"),
    _r(A.TRANSFER, S.WAITING, S.WAITING, {T.STAFF}, "moved to another room, keeps priority"),
    _r(A.TRANSFER, S.CALLED, S.WAITING, {T.STAFF}, "moved to another room after the call"),
    _r(A.TRANSFER, S.ON_HOLD, S.WAITING, {T.STAFF}, "moved to another room from hold"),
    _r(A.START, S.CALLED, S.ONGOING, {T.STAFF, T.TAP}, "exam or consultation begins"),
    _r(A.COMPLETE, S.ONGOING, S.COMPLETED, {T.STAFF}, "this step is done"),
    _r(A.NEXT_STEP, S.COMPLETED, S.WAITING, {T.SYSTEM}, "queued in the next step's room"),
    _r(A.TO_PAYMENT, S.COMPLETED, S.PAYMENT, {T.SYSTEM}, "no step left"),
    _r(A.PAY, S.PAYMENT, S.FINISHED, {T.STAFF, T.EMR, T.SYSTEM}, "paid; the day is over"),
    *(
        _r(A.CANCEL, s, S.CANCELLED, {T.STAFF, T.EMR, T.SYSTEM}, "cancelled before the exam")
        for s in _BEFORE_ONGOING
    ),
)

TERMINAL_STATES: frozenset[State] = frozenset({S.FINISHED, S.CANCELLED})

_INDEX: dict[tuple[State, Action], Rule] = {(r.source, r.action): r for r in TRANSITIONS}
assert len(_INDEX) == len(TRANSITIONS), "an (action, source) pair appears twice in TRANSITIONS"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a transition was refused; `reason` is machine-readable, the messages are for people."""

    reason: str
    message_ko: str
    message_en: str


def apply(state: State, action: Action, trigger: Trigger) -> Rule | Rejection:
    """Return the rule that moves `state` by `action` when `trigger` may ask for it, else why not.

    Pure: no I/O, no clock. The caller writes the state change and the audit row together.
    """
    rule = _INDEX.get((state, action))
    if rule is None:
        if state in TERMINAL_STATES:
            return Rejection(
                "visit_closed",
                "이미 종료된 방문입니다.",
                f"The visit is already {state.value.lower()}.",
            )
        return Rejection(
            "invalid_transition",
            "지금 상태에서는 할 수 없는 작업입니다.",
            f"Cannot {action.value} a visit that is {state.value}.",
        )
    if trigger not in rule.triggers:
        allowed = ", ".join(sorted(t.value for t in rule.triggers))
        return Rejection(
            "trigger_not_allowed",
            "이 작업은 여기에서 할 수 없습니다.",
            f"{action.value} from {state.value} may be asked by {allowed}, not {trigger.value}.",
        )
    return rule


def render_markdown() -> str:
    """The transition table as Markdown, for docs/journey.md."""
    lines = [
        "# Visit journey state machine",
        "",
        "Generated from `protocol/journey.py` by `nfc-hospital protocol journey-doc`; "
        "do not edit by hand (a test fails when this file is stale).",
        "",
        "States: " + ", ".join(f"`{s.value}`" for s in State) + ".",
        "Terminal: " + ", ".join(f"`{s.value}`" for s in sorted(TERMINAL_STATES)) + ".",
        "",
        "| action | from | to | allowed triggers | meaning |",
        "|---|---|---|---|---|",
    ]
    for r in TRANSITIONS:
        triggers = ", ".join(sorted(t.value for t in r.triggers))
        lines.append(
            f"| `{r.action.value}` | `{r.source.value}` | `{r.target.value}` "
            f"| {triggers} | {r.note} |"
        )
    lines += [
        "",
        "Any other (state, action) pair is rejected with reason `invalid_transition` "
        "(`visit_closed` from a terminal state); a listed pair asked by a trigger not in its "
        "row is rejected with `trigger_not_allowed`. Rejections are logged and counted, and "
        "nothing is written.",
        "",
    ]
    return "\n".join(lines)
