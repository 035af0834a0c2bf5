"""The patients' help assistant: questions answered from the FAQ, the room directory, the map
and (with the patient's own phone-page session) the patient's visit, offline.

Facade: `Assistant` (sync `answer`), `AskService` (async, rate limits and the optional
language-model rephrasing), `load_faq`, the HTTP routes in `central.assistant.http`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from central.assistant.core import Assistant
    from central.assistant.faq import FaqFile, load_faq
    from central.assistant.models import Answer, TopQuestions

__all__ = ["Answer", "Assistant", "FaqFile", "TopQuestions", "load_faq"]

# Loaded on first use: central.config embeds central.assistant.config, and importing the
# package must not pull in the engine (which imports central.config) half-way through.
_WHERE = {
    "Assistant": "central.assistant.core",
    "FaqFile": "central.assistant.faq",
    "load_faq": "central.assistant.faq",
    "Answer": "central.assistant.models",
    "TopQuestions": "central.assistant.models",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'central.assistant' has no attribute {name!r}")
