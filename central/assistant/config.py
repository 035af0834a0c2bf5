"""The assistant's settings (a section central's config can embed)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from protocol.base import Model

# Here, not in faq.py: central.config embeds these settings and must not import the FAQ's
# error classes (they derive from the API's, which import the engine, which imports
# central.config).
DEFAULT_FAQ = Path(__file__).resolve().parents[1] / "data" / "faq.json"


class LmConfig(Model):
    """The optional language-model backend: any OpenAI-compatible server on the hospital's
    own network (vLLM, llama.cpp server, Ollama). Unset `url` = retrieval answers only."""

    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=500,
        description="Base URL; /v1/chat/completions is appended (http://10.0.0.5:8000).",
    )
    model: str = Field(default="default", max_length=200, description="Model name to ask for.")
    timeout_s: float = Field(
        default=2.5, gt=0, le=30, description="Whole-request timeout; then the retrieval answer."
    )
    max_tokens: int = Field(default=200, ge=16, le=2000, description="Longest reply, tokens.")


class AssistantConfig(Model):
    """The help assistant."""

    faq_file: Path = Field(default=DEFAULT_FAQ, description="The FAQ JSON file admins edit.")
    max_question_chars: int = Field(
        default=300, ge=20, le=2000, description="Longest question accepted, characters."
    )
    burst: int = Field(
        default=8, ge=1, le=1000, description="Questions a session or address may ask at once."
    )
    per_s: float = Field(
        default=0.5, gt=0, le=100, description="Questions per second refilled after the burst."
    )
    lm: LmConfig = Field(default_factory=LmConfig, description="Optional language model.")
