"""HelpModel: the station's Help states, the timeout, bad and late replies, unreachable central."""

from __future__ import annotations

import json

import pytest

from kiosk_ui import demo
from kiosk_ui.metrics import BAD_MESSAGES, counter_value
from kiosk_ui.models import help as h
from kiosk_ui.models.help import HelpModel

pytestmark = pytest.mark.qt


def body(doc: dict) -> bytes:
    return json.dumps(doc).encode()


@pytest.fixture
def model(qtbot) -> tuple[HelpModel, list[str], list[tuple[str, str]]]:
    m = HelpModel(language="en", timeout_s=30)
    fetches: list[str] = []
    asks: list[tuple[str, str]] = []
    m.fetchQuestions.connect(fetches.append)
    m.ask.connect(lambda q, lang: asks.append((q, lang)))
    return m, fetches, asks


def test_open_choose_answer_back(model):
    m, fetches, asks = model
    assert m.state == h.CLOSED
    m.open()
    assert (m.state, fetches) == (h.LOADING, ["ko"])
    assert m.message().secondary == "One moment, please"
    m.questions_arrived(m.ticket, body(demo.top_questions()))
    assert m.state == h.QUESTIONS
    labels = m.question_labels()
    assert len(labels) == 6
    assert labels[4].primary == "수납은 어디서 하나요?"
    assert labels[4].secondary == "Where do I pay?"
    m.choose(4)
    assert m.state == h.ASKING
    assert asks == [("수납은 어디서 하나요?", "ko")]
    m.answer_arrived(m.ticket, body(demo.answer()))
    assert m.state == h.ANSWER
    msg = m.message()
    assert msg.primary == "수납은 1층 원무과 수납 창구에서 합니다."
    assert msg.secondary == "You pay at the payment desk on 1F."
    assert m.route() is not None
    assert m.route().to_node == "f1-east"
    assert next(s.secondary for s in m.steps()) == "Go 40 m straight ahead"
    m.back()
    assert m.state == h.QUESTIONS
    m.back()
    assert m.state == h.CLOSED


def test_korean_only_setting_and_answer_without_all_languages(qtbot):
    m = HelpModel(language="ko")
    m.open()
    m.questions_arrived(m.ticket, body(demo.top_questions()))
    assert m.question_labels()[0].secondary == ""
    m.choose(0)
    reply = demo.answer()
    del reply["answer"], reply["route"]
    m.answer_arrived(m.ticket, body(reply))
    assert m.message().primary == reply["text"]
    assert m.route() is None
    assert m.steps() == []


def test_unreachable_central_shows_the_calm_message(model):
    m, _, _ = model
    m.open()
    m.failed(m.ticket, "connection refused")
    assert m.state == h.UNAVAILABLE
    assert m.message().primary.startswith("지금은 도움말을 쓸 수 없습니다")
    assert "information desk" in m.message().secondary
    m.back()
    assert m.state == h.CLOSED


def test_failure_while_asking(model):
    m, _, _ = model
    m.open()
    m.questions_arrived(m.ticket, body(demo.top_questions()))
    m.choose(1)
    m.failed(m.ticket, "HTTP 503")
    assert m.state == h.UNAVAILABLE


def test_bad_reply_is_counted_and_shown_as_unavailable(model):
    m, _, _ = model
    before = counter_value(BAD_MESSAGES, source="assistant", reason="invalid")
    m.open()
    m.questions_arrived(m.ticket, b'{"lang": "ko", "questions": [{"id": 1}]}')
    assert m.state == h.UNAVAILABLE
    assert counter_value(BAD_MESSAGES, source="assistant", reason="invalid") == before + 1


def test_no_questions_is_unavailable(model):
    m, _, _ = model
    m.open()
    m.questions_arrived(m.ticket, body({"lang": "ko", "questions": []}))
    assert m.state == h.UNAVAILABLE


def test_late_reply_after_back_is_dropped(model):
    m, _, _ = model
    m.open()
    late = m.ticket
    m.back()
    m.questions_arrived(late, body(demo.top_questions()))
    assert m.state == h.CLOSED
    m.open()
    m.questions_arrived(late, body(demo.top_questions()))  # the old request's reply
    assert m.state == h.LOADING
    m.failed(late, "old")
    assert m.state == h.LOADING


def test_choose_out_of_range_or_in_wrong_state_does_nothing(model):
    m, _, asks = model
    m.choose(0)
    assert m.state == h.CLOSED
    m.open()
    m.questions_arrived(m.ticket, body(demo.top_questions()))
    m.choose(6)
    assert m.state == h.QUESTIONS
    assert asks == []


def test_untouched_help_times_out_to_idle(qtbot):
    m = HelpModel(timeout_s=0.2)
    m.open()
    m.questions_arrived(m.ticket, body(demo.top_questions()))
    assert m.state == h.QUESTIONS
    qtbot.waitUntil(lambda: m.state == h.CLOSED, timeout=3000)


def test_demo_replies_match_centrals_response_models():
    # The stand-in and the screenshots serve these; central's own models must accept them, so
    # the kiosk is tested against the shapes central really sends.
    from central.assistant.models import Answer, TopQuestions

    top = TopQuestions.model_validate(demo.top_questions("en"))
    assert len(top.questions) == 6
    assert Answer.model_validate(demo.answer()).route is not None
