"""The optional language-model backend: rephrase the retrieved facts into a friendly answer.

The model sees only the facts of the retrieval answer (and the question); the system prompt
forbids medical advice and anything not in the facts, and a guard refuses a reply that
writes a number the facts do not contain. Any failure (unset, unreachable, slow, bad reply,
refused by the guard) gives `None`: the caller keeps the retrieval answer as is.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from prometheus_client import Counter

from central.assistant.config import LmConfig
from central.assistant.models import Answer
from central.assistant.text import numbers_in

log = logging.getLogger("central.assistant.lm")

LM_CALLS = Counter(
    "nfch_central_assistant_lm_total",
    "Language-model rephrasing attempts, by outcome (ok, timeout, unreachable, bad_reply, "
    "guard_rejected).",
    ["outcome"],
)

LANG_NAMES = {"ko": "Korean", "en": "English", "zh": "Simplified Chinese", "ja": "Japanese"}

SYSTEM_PROMPT = (
    "You are the help desk of a hospital outpatient department, talking to a patient. "
    "Rewrite the FACTS below as one short, friendly answer in {language}. "
    "Use only the FACTS: do not add any place, time, number, price, name or step that is not "
    "in them, and never give medical advice (results, medicines, symptoms, diagnoses): for "
    "those, tell the patient to ask their doctor or nurse. If the facts do not answer the "
    "question, say so and repeat the facts. Keep every number exactly as written.\n\nFACTS:\n"
    "{facts}"
)


def facts_of(answer: Answer) -> list[str]:
    """The facts the model may use: the answer text and the route's steps, in its language."""
    facts = [answer.text]
    if answer.route is not None:
        facts.extend(step.get(answer.lang) for step in answer.route.steps)
    return facts


def guard(reply: str, facts: list[str], question: str) -> str | None:
    """Why the reply is refused (None when it may be shown)."""
    if not reply.strip():
        return "empty reply"
    if len(reply) > 1500:
        return "reply too long"
    allowed = numbers_in(" ".join(facts)) | numbers_in(question)
    invented = sorted(numbers_in(reply) - allowed)
    if invented:
        return f"numbers not in the facts: {invented[:5]}"
    return None


class LmBackend:
    """A client of one OpenAI-compatible chat-completions server."""

    def __init__(self, config: LmConfig) -> None:
        if config.url is None:
            raise ValueError("LmBackend needs a url")
        self.config = config
        self.endpoint = config.url.rstrip("/") + "/v1/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)
            )
        return self._session

    async def rephrase(self, question: str, answer: Answer) -> str | None:
        """The model's wording of the answer's facts, or None (use the retrieval answer)."""
        facts = facts_of(answer)
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {
                    "role": "system",
                    "content": SYSTEM_PROMPT.format(
                        language=LANG_NAMES[answer.lang],
                        facts="\n".join(f"- {f}" for f in facts),
                    ),
                },
                {"role": "user", "content": question},
            ],
            "temperature": 0.2,
            "max_tokens": self.config.max_tokens,
            "stream": False,
        }
        try:
            async with self._http().post(self.endpoint, json=body) as resp:
                if resp.status != 200:
                    LM_CALLS.labels(outcome="bad_reply").inc()
                    log.warning("assistant.lm_failed status=%d", resp.status)
                    return None
                data = await resp.json(content_type=None)
        except TimeoutError:
            LM_CALLS.labels(outcome="timeout").inc()
            log.warning("assistant.lm_timeout timeout_s=%s", self.config.timeout_s)
            return None
        except (aiohttp.ClientError, OSError, ValueError) as e:
            LM_CALLS.labels(outcome="unreachable").inc()
            log.warning("assistant.lm_unreachable error=%s", type(e).__name__)
            return None
        try:
            reply = str(data["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError):
            LM_CALLS.labels(outcome="bad_reply").inc()
            log.warning("assistant.lm_bad_reply")
            return None
        why = guard(reply, facts, question)
        if why is not None:
            LM_CALLS.labels(outcome="guard_rejected").inc()
            log.warning("assistant.lm_guard_rejected reason=%s", why)
            return None
        LM_CALLS.labels(outcome="ok").inc()
        return reply


async def rephrase_or_keep(lm: LmBackend | None, question: str, answer: Answer) -> Answer:
    """The answer with the model's wording when that works; the answer itself otherwise.
    Medical and no-match answers are never reworded: their wording is the safety."""
    if lm is None or answer.kind in ("medical", "no_match"):
        return answer
    text = await lm.rephrase(question, answer)
    if text is None:
        return answer
    return answer.model_copy(update={"text": text, "backend": "lm"})
