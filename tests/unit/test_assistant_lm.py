"""The optional language-model backend against a small local server speaking the
OpenAI chat-completions API (a stand-in for vLLM, llama.cpp server or Ollama): a grounded
rephrasing is used; a timeout, an unreachable server, a broken reply and a reply that
invents a number all give the retrieval answer unchanged."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from central.assistant import Assistant, load_faq
from central.assistant.config import LmConfig
from central.assistant.limits import RateLimiter
from central.assistant.lm import LM_CALLS, LmBackend, guard
from central.assistant.service import AssistantService
from central.clock import SystemClock
from central.engine import Engine
from central.seed import sample_hospital
from central.store import Database
from central.wayfinding import load_map

SAMPLE_MAP = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"


@dataclass
class FakeLlmServer:
    """Answers /v1/chat/completions like vLLM / llama.cpp / Ollama do, per `mode`."""

    mode: str = "good"
    reply: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    never: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.mode == "hang":
            await self.never.wait()  # never set: the client's timeout must end the wait
        if self.mode == "error":
            return web.json_response({"error": {"message": "model not loaded"}}, status=503)
        if self.mode == "garbage":
            return web.json_response({"id": "x", "object": "chat.completion"})
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.reply},
                        "finish_reason": "stop",
                    }
                ],
            }
        )


@pytest.fixture
async def llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server
    finally:
        server.never.set()
        await runner.cleanup()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    db = Database(str(tmp_path_factory.mktemp("lm") / "central.db"))
    db.migrate()
    engine = Engine(db, site_key=b"assistant-test-key-0123456789abc", clock=SystemClock())
    engine.load(sample_hospital(engine.service_day(), patients=2).data)
    yield Assistant(load_faq(), engine, load_map(SAMPLE_MAP))
    engine.close()


def _service(assistant: Assistant, port: int, timeout_s: float = 2.0) -> AssistantService:
    lm = LmBackend(LmConfig(url=f"http://127.0.0.1:{port}", model="qwen", timeout_s=timeout_s))
    return AssistantService(assistant, limiter=RateLimiter(burst=100), lm=lm)


def _count(outcome: str) -> float:
    return float(LM_CALLS.labels(outcome=outcome)._value.get())


async def test_grounded_rephrasing_is_used(assistant: Assistant, llm: FakeLlmServer) -> None:
    llm.reply = "주차장은 지하 1층과 2층이에요. 진료 당일 2시간은 무료랍니다!"
    service = _service(assistant, llm.port)
    try:
        a = await service.ask("주차 어디에 해요?", "ko", rate_key="t")
    finally:
        await service.close()
    assert (a.backend, a.text, a.topic) == ("lm", llm.reply, "parking")
    assert a.answer.ko.startswith("주차장은 지하 1층과 2층")  # the retrieval facts stay beside
    sent = llm.requests[-1]
    assert sent["model"] == "qwen"
    system = sent["messages"][0]["content"]
    assert "never give medical advice" in system
    assert "Korean" in system
    assert "2시간 무료" in system  # the facts are in the prompt
    assert sent["messages"][1] == {"role": "user", "content": "주차 어디에 해요?"}


async def test_invented_number_is_rejected(assistant: Assistant, llm: FakeLlmServer) -> None:
    llm.reply = "Parking is on B1 and B2 and costs 5,000 won per hour."
    before = _count("guard_rejected")
    service = _service(assistant, llm.port)
    try:
        a = await service.ask("Where can I park?", "en", rate_key="t")
    finally:
        await service.close()
    assert a.backend == "retrieval"
    assert a.text == a.answer.en
    assert "1,000 won" in a.text
    assert _count("guard_rejected") == before + 1


async def test_timeout_gives_the_retrieval_answer(assistant: Assistant, llm: FakeLlmServer) -> None:
    llm.mode = "hang"
    before = _count("timeout")
    service = _service(assistant, llm.port, timeout_s=0.3)
    try:
        t0 = asyncio.get_running_loop().time()
        a = await service.ask("와이파이 비밀번호가 뭐예요?", "ko", rate_key="t")
        took = asyncio.get_running_loop().time() - t0
    finally:
        await service.close()
    assert (a.backend, a.topic) == ("retrieval", "wifi")
    assert a.text == a.answer.ko
    assert took < 2.0
    assert _count("timeout") == before + 1


@pytest.mark.parametrize("mode", ["error", "garbage"])
async def test_bad_replies_give_the_retrieval_answer(
    assistant: Assistant, llm: FakeLlmServer, mode: str
) -> None:
    llm.mode = mode
    service = _service(assistant, llm.port)
    try:
        a = await service.ask("Where do I pay?", "en", rate_key="t")
    finally:
        await service.close()
    assert a.backend == "retrieval"
    assert len(llm.requests) == 1


async def test_unreachable_server_gives_the_retrieval_answer(assistant: Assistant) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = _count("unreachable")
    service = _service(assistant, port)
    try:
        a = await service.ask("What are your opening hours?", "en", rate_key="t")
    finally:
        await service.close()
    assert (a.backend, a.topic) == ("retrieval", "hours")
    assert _count("unreachable") == before + 1


async def test_medical_and_no_match_are_never_reworded(
    assistant: Assistant, llm: FakeLlmServer
) -> None:
    llm.reply = "Your result looks fine."
    service = _service(assistant, llm.port)
    try:
        m = await service.ask("Is my result bad?", "en", rate_key="t")
        n = await service.ask("Who won the match?", "en", rate_key="t")
    finally:
        await service.close()
    assert (m.kind, m.backend) == ("medical", "retrieval")
    assert (n.kind, n.backend) == ("no_match", "retrieval")
    assert llm.requests == []


def test_guard() -> None:
    facts = ["외래 진료는 평일 8:30부터 17:30까지입니다.", "3층"]
    assert guard("평일 8시 30분부터 17시 30분까지 진료해요. 3층으로 오세요.", facts, "") is None
    assert guard("평일 9시부터입니다.", facts, "") is not None
    assert guard("", facts, "") == "empty reply"
    assert guard("Room ２ on 3F", facts, "room 2?") is None  # numbers from the question count
