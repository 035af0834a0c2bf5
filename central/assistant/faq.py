"""The hospital's FAQ file (central/data/faq.json): pydantic models and a loader whose errors
name the file and the key path, so an admin's typo is found before the server starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from central.assistant.config import DEFAULT_FAQ as DEFAULT_FAQ  # re-exported
from central.assistant.errors import FaqFileError
from protocol.base import ID_PATTERN, LocalizedText, Model
from protocol.hospital_map import NodeKind

Intent = Literal[
    "faq", "place", "wait", "where_to_go", "next_step", "payment", "missed_call", "medical"
]
LANGS = ("ko", "en", "zh", "ja")


class Phrases(Model):
    """Words or questions in each language."""

    ko: list[str] = Field(default_factory=list, max_length=50, description="Korean.")
    en: list[str] = Field(default_factory=list, max_length=50, description="English.")
    zh: list[str] = Field(default_factory=list, max_length=50, description="Chinese.")
    ja: list[str] = Field(default_factory=list, max_length=50, description="Japanese.")

    def get(self, lang: str) -> list[str]:
        """The phrases in `lang`."""
        value: list[str] = getattr(self, lang)
        return value

    def all(self) -> list[str]:
        """Every phrase, all languages."""
        return [*self.ko, *self.en, *self.zh, *self.ja]


class FullText(LocalizedText):
    """Patient-facing text that must be written in all four languages."""

    zh: str = Field(max_length=2000, description="Simplified Chinese.")
    ja: str = Field(max_length=2000, description="Japanese.")


class FaqEntry(Model):
    """One question the hospital answers, with example phrasings and the answer."""

    id: str = Field(pattern=ID_PATTERN, description="Entry id (the answer's topic).")
    intent: Intent = Field(description="What kind of answer the entry gives.")
    questions: Phrases = Field(description="Example questions; the first of each is shown.")
    answer: FullText = Field(description="The general answer (no patient data).")
    top: int | None = Field(
        default=None, ge=1, le=6, description="Rank among the Help screen's six questions."
    )
    place_kind: NodeKind | None = Field(
        default=None, description="For place answers: the map node kind to route to."
    )
    room_kind: str | None = Field(
        default=None, max_length=32, description="Or the room kind to route to (payment ...)."
    )
    keywords: Phrases = Field(default_factory=Phrases, description="Extra search words.")

    @model_validator(mode="after")
    def _check(self) -> FaqEntry:
        for lang in LANGS:
            if not self.questions.get(lang):
                raise ValueError(f"questions.{lang} needs at least one question")
        if self.intent == "place" and not (self.place_kind or self.room_kind):
            raise ValueError("a place entry needs place_kind or room_kind")
        return self


class RoomAlias(Model):
    """Extra words patients use for rooms whose id starts with `room_prefix`."""

    room_prefix: str = Field(pattern=ID_PATTERN, description="Room id prefix (xray, lab ...).")
    words: Phrases = Field(description="Words per language (엑스레이, レントゲン ...).")


class FaqFile(Model):
    """The whole FAQ file."""

    comment: str = Field(default="", alias="_comment", description="Free text for admins.")
    version: int = Field(ge=1, description="Bump when you edit the file.")
    help_desk_nodes: list[str] = Field(
        min_length=1, description="Map nodes of the help desks (the answer when nothing fits)."
    )
    help_desk_name: FullText = Field(description="What the help desk is called.")
    nurse_station: FullText = Field(description="Who to ask medical questions when no room.")
    medical_terms: Phrases = Field(description="Words that make a question medical.")
    medical_exceptions: Phrases = Field(
        default_factory=Phrases,
        description="Words that make a medical-sounding question practical (when, where ...).",
    )
    room_aliases: list[RoomAlias] = Field(default_factory=list, description="Room synonyms.")
    entries: list[FaqEntry] = Field(min_length=1, max_length=500, description="The questions.")

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)

    @model_validator(mode="after")
    def _check(self) -> FaqFile:
        ids = [e.id for e in self.entries]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"entry ids used twice: {dupes}")
        tops = [e.top for e in self.entries if e.top is not None]
        if sorted(tops) != list(range(1, len(tops) + 1)) or len(tops) > 6:
            raise ValueError(f"top ranks must be 1..n without gaps (n <= 6), got {sorted(tops)}")
        if not any(e.intent == "medical" for e in self.entries):
            raise ValueError("the file needs an entry with intent 'medical'")
        return self


def parse_faq(text: str, source: str = "<faq>") -> FaqFile:
    """Validate FAQ JSON text; FaqFileError names `source` and each bad key path."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FaqFileError(f"{source}: not JSON: {e}") from None
    try:
        return FaqFile.model_validate(data)
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in e.errors(include_url=False)
        ]
        raise FaqFileError(f"{source}: " + "; ".join(problems)) from None


def load_faq(path: str | Path = DEFAULT_FAQ) -> FaqFile:
    """Read and validate the FAQ file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise FaqFileError(f"{p}: cannot read: {e.strerror}") from None
    return parse_faq(text, str(p))
