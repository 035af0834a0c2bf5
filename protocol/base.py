"""Base model and shared field types for every message and config file."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_MAJOR = 1
SCHEMA_VERSION = f"{SCHEMA_MAJOR}.0"

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
HLC_PATTERN = r"^\d{15}\.\d{6}\.[a-z0-9][a-z0-9_-]{0,62}$"


class Model(BaseModel):
    """Strict base: unknown keys are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, validate_default=True)


class Message(Model):
    """A message that crosses a process boundary; carries the schema version."""

    schema_version: str = Field(
        default=SCHEMA_VERSION,
        pattern=r"^\d{1,3}\.\d{1,3}$",
        description="MAJOR.MINOR of the message schema; a reader rejects another major version.",
    )

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, value: str) -> str:
        if int(value.split(".")[0]) != SCHEMA_MAJOR:
            raise ValueError(
                f"schema version {value} is not supported by this v{SCHEMA_MAJOR} reader"
            )
        return value


StationId = Annotated[
    str, Field(pattern=ID_PATTERN, description="Station id: lower-case letters, digits, - and _.")
]
RoomId = Annotated[
    str, Field(pattern=ID_PATTERN, description="Room (service point) id, one MQTT topic level.")
]
VisitId = Annotated[
    str, Field(pattern=ID_PATTERN, description="Opaque visit id; carries no personal data.")
]
CardHash = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description="HMAC-SHA256 of the card UID under the site key, lower-case hex.",
    ),
]
HLCText = Annotated[
    str,
    Field(pattern=HLC_PATTERN, description="Hybrid logical clock timestamp, WALLMS.COUNTER.NODE."),
]
MaskedName = Annotated[
    str,
    Field(
        max_length=64,
        pattern=r"^$|\*",
        description="A masked name (김*수, J*** S****); a name with no mask character is refused.",
    ),
]


class LocalizedText(Model):
    """Patient-facing text: Korean first, English always, Chinese and Japanese when written."""

    ko: str = Field(max_length=2000, description="Korean text (shown first).")
    en: str = Field(max_length=2000, description="English text (shown beside the Korean).")
    zh: str | None = Field(default=None, max_length=2000, description="Simplified Chinese.")
    ja: str | None = Field(default=None, max_length=2000, description="Japanese.")

    def get(self, lang: str) -> str:
        """The text in `lang`, falling back to English for a language not written."""
        value = getattr(self, lang, None) if lang in ("ko", "en", "zh", "ja") else None
        return value if isinstance(value, str) else self.en
