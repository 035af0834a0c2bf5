"""The assistant as the HTTP layer uses it: rate limits, the answer in a worker thread (the
engine is synchronous), the optional language-model rephrasing, station ids to map nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Counter, Histogram

from central.assistant.config import AssistantConfig
from central.assistant.core import Assistant
from central.assistant.faq import load_faq
from central.assistant.limits import RateLimiter
from central.assistant.lm import LmBackend, rephrase_or_keep
from central.assistant.models import Answer, Lang, TopQuestions
from central.engine import Engine
from protocol.hospital_map import HospitalMap

ANSWERS = Counter(
    "nfch_central_assistant_answers_total",
    "Questions answered, by answer kind and whether a patient session was present.",
    ["kind", "session"],
)
ANSWER_SECONDS = Histogram(
    "nfch_central_assistant_answer_seconds",
    "Time to answer a question (retrieval and live data; the LM call included when used).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class AssistantService:
    """One per central process."""

    def __init__(
        self,
        assistant: Assistant,
        *,
        limiter: RateLimiter | None = None,
        lm: LmBackend | None = None,
    ) -> None:
        self.assistant = assistant
        self.limiter = limiter or RateLimiter()
        self.lm = lm
        self._stations: dict[str, str | None] = {}
        self._stations_at = -1e9

    @classmethod
    def from_config(
        cls,
        config: AssistantConfig,
        engine: Engine,
        hospital_map: HospitalMap | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> AssistantService:
        """Load the FAQ (FaqFileError names the file and key) and build the index."""
        assistant = Assistant(
            load_faq(config.faq_file),
            engine,
            hospital_map,
            max_chars=config.max_question_chars,
            clock=clock,
        )
        limiter = RateLimiter(burst=config.burst, per_s=config.per_s, clock=clock)
        lm = LmBackend(config.lm) if config.lm.url else None
        return cls(assistant, limiter=limiter, lm=lm)

    async def close(self) -> None:
        """Close the LM client."""
        if self.lm is not None:
            await self.lm.close()

    def station_node(self, station_id: str) -> str | None:
        """The map node of a station (None when it has none); KeyError when unknown."""
        now = time.monotonic()
        if station_id not in self._stations or now - self._stations_at > 30.0:
            self._stations = {s.station_id: s.node_id for s in self.assistant.engine.stations()}
            self._stations_at = now
        return self._stations[station_id]

    async def ask(
        self,
        question: str,
        lang: Lang,
        *,
        rate_key: str,
        visit_id: str | None = None,
        station_node: str | None = None,
    ) -> Answer:
        """Answer one question for the holder of `rate_key` (RateLimited when over)."""
        self.limiter.take(rate_key)
        t0 = time.perf_counter()
        answer = await asyncio.to_thread(
            self.assistant.answer, question, lang, visit_id, station_node
        )
        answer = await rephrase_or_keep(self.lm, question, answer)
        ANSWER_SECONDS.observe(time.perf_counter() - t0)
        ANSWERS.labels(kind=answer.kind, session=str(visit_id is not None).lower()).inc()
        return answer

    def top_questions(self, lang: Lang) -> TopQuestions:
        """The station Help screen's questions."""
        return self.assistant.top_questions(lang)
