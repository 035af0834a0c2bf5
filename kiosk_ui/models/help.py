"""The station's "도움말 / Help" screens: top questions, one answer, or "not available".

The model decides what to show; `kiosk_ui.feeds.assistant_client` does the HTTP calls when
the model asks for them (signals) and hands the replies back here. The answers are parsed
with local models of central's response shapes: the kiosk never imports central.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, ValidationError
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from kiosk_ui.metrics import BAD_MESSAGES
from kiosk_ui.models import text
from kiosk_ui.models.text import Bilingual
from protocol.base import LocalizedText
from protocol.hospital_map import Route

log = logging.getLogger("nfch.kiosk.help")

CLOSED = "closed"
LOADING = "loading"
QUESTIONS = "questions"
ASKING = "asking"
ANSWER = "answer"
UNAVAILABLE = "unavailable"
MAX_QUESTIONS = 6
MAX_STEPS = 4


class _Reply(BaseModel):
    # Central may add fields to its answers; the kiosk reads only what it shows.
    model_config = ConfigDict(extra="ignore", frozen=True)


class TopQuestionReply(_Reply):
    """One question of `GET /api/v1/assistant/top-questions`."""

    id: str
    text: str
    label: LocalizedText


class TopQuestionsReply(_Reply):
    """`GET /api/v1/assistant/top-questions`."""

    lang: str
    questions: list[TopQuestionReply]


class AnswerReply(_Reply):
    """`POST /api/v1/assistant/ask`: the parts the station shows."""

    kind: str
    lang: str
    text: str
    answer: LocalizedText | None = None
    route: Route | None = None


class HelpModel(QObject):
    """What the Help screens show; `state` is closed, loading, questions, asking, answer or
    unavailable. Any state but closed goes back to closed after `timeout_s` untouched."""

    changed = pyqtSignal()
    fetchQuestions = pyqtSignal(str)  # lang
    ask = pyqtSignal(str, str)  # question text, lang

    def __init__(
        self, *, language: str = "en", timeout_s: float = 30.0, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.language = language
        self.state = CLOSED
        self.questions: list[TopQuestionReply] = []
        self.reply: AnswerReply | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(timeout_s * 1000))
        self._timer.timeout.connect(self._expired)
        # Replies that arrive after the patient left (Back or timeout) are dropped.
        self._pending = 0

    def _go(self, state: str) -> None:
        self.state = state
        if state == CLOSED:
            self._timer.stop()
        else:
            self._timer.start()
        log.info("help.state state=%s", state)
        self.changed.emit()

    # --- patient actions --------------------------------------------------------------------

    def open(self) -> None:
        """The Help button: ask central for the top questions."""
        self._pending += 1
        self._go(LOADING)
        self.fetchQuestions.emit("ko")

    def choose(self, index: int) -> None:
        """A question button: ask central for its answer."""
        if self.state != QUESTIONS or not 0 <= index < len(self.questions):
            return
        self._pending += 1
        self.reply = None
        self._go(ASKING)
        self.ask.emit(self.questions[index].text, "ko")

    def back(self) -> None:
        """The Back button: from an answer to the questions, otherwise to the idle screen."""
        if self.state == ANSWER and self.questions:
            self._go(QUESTIONS)
        else:
            self.close()

    def close(self) -> None:
        """Back to the idle screen (a card was tapped, or the timeout)."""
        if self.state != CLOSED:
            self._pending += 1
            self._go(CLOSED)

    def _expired(self) -> None:
        log.info("help.timeout state=%s", self.state)
        self.close()

    # --- replies from the client --------------------------------------------------------------

    @property
    def ticket(self) -> int:
        """Tag for the request just sent; hand it back with the reply."""
        return self._pending

    def questions_arrived(self, ticket: int, payload: bytes) -> None:
        """The top-questions body."""
        if ticket != self._pending or self.state != LOADING:
            return
        try:
            doc = TopQuestionsReply.model_validate_json(payload)
        except ValidationError as e:
            self._bad("top_questions", e)
            return
        self.questions = doc.questions[:MAX_QUESTIONS]
        self._go(QUESTIONS if self.questions else UNAVAILABLE)

    def answer_arrived(self, ticket: int, payload: bytes) -> None:
        """The ask body."""
        if ticket != self._pending or self.state != ASKING:
            return
        try:
            self.reply = AnswerReply.model_validate_json(payload)
        except ValidationError as e:
            self._bad("answer", e)
            return
        self._go(ANSWER)

    def failed(self, ticket: int, reason: str) -> None:
        """Central unreachable, or it answered with an error."""
        if ticket != self._pending or self.state not in (LOADING, ASKING):
            return
        log.warning("help.unavailable reason=%s", reason)
        self._go(UNAVAILABLE)

    def _bad(self, what: str, e: ValidationError) -> None:
        BAD_MESSAGES.labels(source="assistant", reason="invalid").inc()
        log.warning("help.bad_reply what=%s error=%s", what, str(e).splitlines()[0])
        self._go(UNAVAILABLE)

    # --- formatting for the view ------------------------------------------------------------

    def title(self) -> Bilingual:
        """The heading of every Help screen."""
        return text.bilingual(text.HELP_TITLE, self.language)

    def question_labels(self) -> list[Bilingual]:
        """The question buttons, Korean first."""
        return [text.bilingual(q.label, self.language) for q in self.questions]

    def message(self) -> Bilingual | None:
        """The main text: the answer, 'one moment' or 'not available'."""
        if self.state in (LOADING, ASKING):
            return text.bilingual(text.HELP_LOADING, self.language)
        if self.state == UNAVAILABLE:
            return text.bilingual(text.HELP_UNAVAILABLE, self.language)
        if self.state == ANSWER and self.reply is not None:
            r = self.reply
            if r.answer is not None:
                return text.bilingual(r.answer, self.language)
            return Bilingual(r.text, "")
        return None

    def route(self) -> Route | None:
        """The way to the place the answer names, if it has one."""
        return self.reply.route if self.state == ANSWER and self.reply else None

    def steps(self) -> list[Bilingual]:
        """The route's first written directions."""
        r = self.route()
        if r is None:
            return []
        return [text.bilingual(t, self.language) for t in r.steps[:MAX_STEPS]]
