"""What the assistant answers: the answer model (also the API's response) and its parts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from protocol.base import LocalizedText, Model
from protocol.hospital_map import Route

Lang = Literal["ko", "en", "zh", "ja"]
AnswerKind = Literal[
    "faq",
    "place",
    "wait",
    "where_to_go",
    "next_step",
    "payment",
    "missed_call",
    "medical",
    "no_match",
]


class Source(Model):
    """Where a fact of the answer came from."""

    type: Literal["faq", "room", "map", "visit", "queue"] = Field(description="Source type.")
    id: str = Field(max_length=100, description="FAQ entry id, room id, node id or 'visit'.")


class Answer(Model):
    """An answer to one question."""

    kind: AnswerKind = Field(description="What kind of answer this is.")
    topic: str | None = Field(default=None, description="FAQ entry id or room:<room_id>.")
    lang: Lang = Field(description="Language of `text`.")
    text: str = Field(max_length=4000, description="The answer in the asked language.")
    answer: LocalizedText = Field(description="The answer in every language (Korean first).")
    live: bool = Field(default=False, description="True when built from the patient's visit.")
    sources: list[Source] = Field(default_factory=list, description="Where the facts came from.")
    route: Route | None = Field(default=None, description="The way there, when there is one.")
    suggestions: list[str] = Field(
        default_factory=list, description="Related questions to offer as buttons, in `lang`."
    )
    score: float = Field(default=0.0, description="Retrieval score of the match (0 if none).")
    backend: Literal["retrieval", "lm"] = Field(
        default="retrieval", description="Who wrote `text`: the retrieval answer or the LM."
    )


class TopQuestion(Model):
    """One of the Help screen's large buttons."""

    id: str = Field(description="FAQ entry id.")
    text: str = Field(description="The question in the asked language (send it to /ask).")
    label: LocalizedText = Field(description="The question in every language.")


class TopQuestions(Model):
    """The station's Help screen: the top questions, in order."""

    lang: Lang = Field(description="Language of `text`.")
    questions: list[TopQuestion] = Field(description="At most six questions.")
