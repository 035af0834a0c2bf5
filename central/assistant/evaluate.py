"""Score the assistant on a question set with expected answer kinds (and topics).

A question counts as correct when the kind is right and, where the set names a topic, the
topic is right too (an FAQ entry id, or `room:<prefix>` matching the answered room).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field

from central.assistant.core import Assistant
from central.assistant.models import AnswerKind, Lang
from protocol.base import Model


class Question(Model):
    """One question of the set."""

    lang: Lang = Field(description="Language the question is asked in.")
    q: str = Field(min_length=1, max_length=300, description="The question.")
    kind: AnswerKind = Field(description="Expected answer kind.")
    topic: str | None = Field(default=None, description="Expected topic (entry or room:prefix).")
    set: Literal["tuning", "holdout"] = Field(
        default="tuning",
        description="holdout: written after tuning the FAQ on the rest, and never tuned on.",
    )


class QuestionSet(Model):
    """The file."""

    comment: str = Field(default="", alias="_comment", description="Free text.")
    questions: list[Question] = Field(min_length=1, description="The questions.")


def load_questions(path: str | Path) -> list[Question]:
    """Read and validate a question set."""
    return QuestionSet.model_validate(json.loads(Path(path).read_text("utf-8"))).questions


@dataclass(slots=True)
class Miss:
    """A wrong answer."""

    question: Question
    kind: str
    topic: str | None


@dataclass(slots=True)
class LangScore:
    """Results of one language."""

    total: int = 0
    correct: int = 0
    times_ms: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(slots=True)
class Report:
    """Per-language scores and the misses."""

    by_lang: dict[str, LangScore]
    misses: list[Miss]


def topic_ok(expected: str | None, got: str | None) -> bool:
    """`room:xray` matches room:xray-1 and room:xray-2; other topics must be equal."""
    if expected is None:
        return True
    if got is None:
        return False
    if expected.startswith("room:"):
        return got.startswith(expected)
    return got == expected


def evaluate(
    assistant: Assistant, questions: list[Question], station_node: str | None = "st-lobby"
) -> Report:
    """Ask every question (no patient session) and score the answers."""
    by_lang: dict[str, LangScore] = {}
    misses: list[Miss] = []
    for q in questions:
        score = by_lang.setdefault(q.lang, LangScore())
        t0 = time.perf_counter()
        a = assistant.answer(q.q, q.lang, None, station_node)
        score.times_ms.append((time.perf_counter() - t0) * 1000)
        score.total += 1
        if a.kind == q.kind and topic_ok(q.topic, a.topic):
            score.correct += 1
        else:
            misses.append(Miss(q, a.kind, a.topic))
    return Report(by_lang, misses)
