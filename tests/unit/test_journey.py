"""The journey table: every allowed and every forbidden (state, action, trigger)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from protocol.journey import (
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    Rejection,
    Rule,
    State,
    Trigger,
    apply,
    render_markdown,
)

ALLOWED = {(r.source, r.action, t): r.target for r in TRANSITIONS for t in r.triggers}


@pytest.mark.parametrize(("source", "action", "trigger"), sorted(ALLOWED))
def test_every_allowed_transition_goes_to_its_target(source, action, trigger):
    result = apply(source, action, trigger)
    assert isinstance(result, Rule)
    assert result.target == ALLOWED[(source, action, trigger)]


def test_every_forbidden_combination_is_rejected_with_a_reason():
    forbidden = 0
    for source, action, trigger in itertools.product(State, Action, Trigger):
        if (source, action, trigger) in ALLOWED:
            continue
        forbidden += 1
        result = apply(source, action, trigger)
        assert isinstance(result, Rejection), (source, action, trigger)
        assert result.reason in {"invalid_transition", "trigger_not_allowed", "visit_closed"}
        assert result.message_ko
        assert result.message_en
    assert forbidden == len(State) * len(Action) * len(Trigger) - len(ALLOWED)


def test_reason_distinguishes_wrong_trigger_from_wrong_state():
    assert apply(State.WAITING, Action.CALL, Trigger.TAP).reason == "trigger_not_allowed"
    assert apply(State.WAITING, Action.COMPLETE, Trigger.STAFF).reason == "invalid_transition"
    assert apply(State.FINISHED, Action.CALL, Trigger.STAFF).reason == "visit_closed"


def test_terminal_states_have_no_way_out():
    for rule in TRANSITIONS:
        assert rule.source not in TERMINAL_STATES


def test_cancel_is_allowed_from_every_state_before_ongoing_and_never_after():
    before = {State.UNREGISTERED, State.ARRIVED, State.REGISTERED, State.WAITING}
    before |= {State.ON_HOLD, State.CALLED}
    for state in State:
        ok = isinstance(apply(state, Action.CANCEL, Trigger.STAFF), Rule)
        assert ok == (state in before), state


def test_the_happy_path_of_design_section_3():
    path = [
        (Action.REGISTER, Trigger.EMR, State.REGISTERED),
        (Action.CHECK_IN, Trigger.TAP, State.WAITING),
        (Action.CALL, Trigger.STAFF, State.CALLED),
        (Action.START, Trigger.STAFF, State.ONGOING),
        (Action.COMPLETE, Trigger.STAFF, State.COMPLETED),
        (Action.NEXT_STEP, Trigger.SYSTEM, State.WAITING),
        (Action.CALL, Trigger.STAFF, State.CALLED),
        (Action.START, Trigger.STAFF, State.ONGOING),
        (Action.COMPLETE, Trigger.STAFF, State.COMPLETED),
        (Action.TO_PAYMENT, Trigger.SYSTEM, State.PAYMENT),
        (Action.PAY, Trigger.STAFF, State.FINISHED),
    ]
    state = State.UNREGISTERED
    for action, trigger, expected in path:
        rule = apply(state, action, trigger)
        assert isinstance(rule, Rule), (state, action, rule)
        state = rule.target
        assert state == expected


def test_docs_journey_md_is_current():
    doc = Path(__file__).resolve().parents[2] / "docs" / "journey.md"
    assert doc.read_text(encoding="utf-8") == render_markdown(), (
        "docs/journey.md is stale: run `nfc-hospital protocol journey-doc`"
    )
