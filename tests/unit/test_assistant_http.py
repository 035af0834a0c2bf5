"""The assistant's HTTP routes on central's real app (API registry, auth, phone page) with
the assistant installed beside them: general answers, the Help screen's questions, live
answers only with that visit's phone-page token, the phone page's cookie route, length and
rate limits with clear errors, the widget script."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from central.api.registry import Registry
from central.api.routes import ApiContext, build_app
from central.api.ws import Hub
from central.assistant.config import AssistantConfig
from central.assistant.http import assistant_routes, install
from central.assistant.service import AssistantService
from central.auth.http import make_authorizer
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.bridge import ChangePublisher, Fleet, SnapshotCache
from central.clock import SystemClock
from central.engine import Engine
from central.seed import sample_hospital
from central.store import Database
from central.wayfinding import load_map
from central.web.config import WebConfig
from central.web.site import attach
from protocol.topics import Topics
from tests.support.auth_world import auth_config

SITE_KEY = b"assistant-http-site-key-01234567"
SAMPLE_MAP = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"


@dataclass
class Server:
    engine: Engine
    auth: AuthService
    base: str
    http: aiohttp.ClientSession

    async def ask(self, body: dict[str, Any], **kw: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/api/v1/assistant/ask", json=body, **kw) as r:
            return r.status, await r.json()

    def token(self, visit_id: str) -> str:
        link, _claims = self.auth.make_link(visit_id)
        return self.auth.redeem_link(link).token


@contextlib.asynccontextmanager
async def serve(tmp: Path, burst: int = 50) -> AsyncIterator[Server]:
    db = Database(str(tmp / "central.db"))
    db.migrate()
    engine = Engine(db, site_key=SITE_KEY, clock=SystemClock())
    engine.load(sample_hospital(engine.service_day(), patients=6).data)
    hub = Hub()
    cache = SnapshotCache(engine)
    publisher = ChangePublisher(engine, Topics("test/nfch"), hub, cache, phone_page_url="x")
    ctx = ApiContext(engine, publisher, cache, Fleet(), hub, None)
    auth = AuthService(
        db,
        auth_config(cookie_secure=False),
        derive_key(SITE_KEY, "jwt"),
        clock=engine.clock,
        service_day=engine.service_day,
    )
    app = build_app(ctx, authorizer=make_authorizer(auth))
    attach(app, ctx, auth, WebConfig(map_file=SAMPLE_MAP))
    service = AssistantService.from_config(
        AssistantConfig(burst=burst), engine, load_map(SAMPLE_MAP)
    )
    install(app, service)  # the one line central's composition needs
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            yield Server(engine, auth, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
        engine.close()


async def test_general_question_and_station_route(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        status, a = await s.ask({"question": "화장실 어디예요?", "lang": "ko"})
        assert status == 200
        assert (a["kind"], a["topic"], a["live"], a["route"]) == ("place", "restroom", False, None)
        assert a["answer"]["en"].startswith("There are restrooms")
        status, a = await s.ask({"question": "トイレはどこ", "lang": "ja", "station_id": "st-2f"})
        assert status == 200
        assert a["text"].startswith("お手洗いは")
        assert (a["route"]["from_node"], a["route"]["to_node"]) == ("st-2f", "wc-2f")
        status, e = await s.ask({"question": "화장실", "station_id": "st-nowhere"})
        assert (status, e["error"]["where"]) == (422, "body.station_id")


async def test_top_questions(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        async with s.http.get(f"{s.base}/api/v1/assistant/top-questions?lang=zh") as r:
            assert r.status == 200
            doc = await r.json()
        assert doc["lang"] == "zh"
        assert len(doc["questions"]) == 6
        assert doc["questions"][0]["text"] == "我还要等多久？"
        assert doc["questions"][0]["label"]["ko"] == "대기 시간이 얼마나 남았나요?"
        async with s.http.get(f"{s.base}/api/v1/assistant/top-questions?lang=fr") as r:
            assert r.status == 422
            assert (await r.json())["error"]["where"] == "query.lang"


async def test_live_answers_need_that_visits_token(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        mine, other = s.engine.visits()[:2]
        s.engine.check_in(mine.visit_id, actor="test")
        s.engine.check_in(other.visit_id, actor="test")
        q = {"question": "얼마나 기다려야 해요?", "visit_id": mine.visit_id}
        status, e = await s.ask(q)
        assert (status, e["error"]["reason"]) == (401, "not_authenticated")
        token = s.token(mine.visit_id)
        status, a = await s.ask(q, headers={"Authorization": f"Bearer {token}"})
        assert status == 200
        assert (a["kind"], a["live"]) == ("wait", True)
        ticket = s.engine.visit(mine.visit_id).ticket_number
        assert f"{ticket}번" in a["text"]
        # My token does not open another patient's visit.
        status, e = await s.ask(
            {**q, "visit_id": other.visit_id}, headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 401
        assert other.masked_name not in str(e)
        status, e = await s.ask(q, headers={"Authorization": "Bearer not-a-token"})
        assert status == 401


async def test_phone_page_route_uses_its_cookie(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        v = s.engine.visits()[0]
        s.engine.check_in(v.visit_id, actor="test")
        url = f"{s.base}/p/v/{v.visit_id}/api/ask"
        body = {"question": "What's next for me?", "lang": "en"}
        cookie = {"Cookie": f"nfch_p={s.token(v.visit_id)}", "Origin": s.base}
        async with s.http.post(url, json=body, headers=cookie) as r:
            assert r.status == 200
            a = await r.json()
        assert (a["kind"], a["live"]) == ("next_step", True)
        assert v.steps[0].label.en in a["text"]
        async with s.http.post(url, json=body, headers={"Origin": s.base}) as r:
            assert r.status == 401
        async with s.http.post(url, json=body, headers={**cookie, "Origin": "http://evil"}) as r:
            assert r.status == 403


async def test_length_limits_and_bad_bodies(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        status, e = await s.ask({"question": "가" * 301})
        assert (status, e["error"]["reason"]) == (422, "question_too_long")
        assert "질문이 너무 깁니다" in e["error"]["message_ko"]
        status, e = await s.ask({"question": "x" * 2001})
        assert (status, e["error"]["where"]) == (422, "body.question")
        status, e = await s.ask({"question": "  "})
        assert (status, e["error"]["reason"]) == (422, "question_empty")
        status, e = await s.ask({"question": "hi", "lang": "fr"})
        assert (status, e["error"]["where"]) == (422, "body.lang")
        status, e = await s.ask({"question": "hi", "extra": 1})
        assert status == 422


async def test_rate_limited_per_address_and_per_session(tmp_path: Path) -> None:
    async with serve(tmp_path, burst=3) as s:
        for _ in range(3):
            status, _a = await s.ask({"question": "Where is the toilet?", "lang": "en"})
            assert status == 200
        status, e = await s.ask({"question": "Where is the toilet?", "lang": "en"})
        assert (status, e["error"]["reason"]) == (429, "rate_limited")
        assert "Too many questions" in e["error"]["message_en"]
        # A patient session has its own bucket.
        v = s.engine.visits()[0]
        status, _a = await s.ask(
            {"question": "Where is the toilet?", "lang": "en", "visit_id": v.visit_id},
            headers={"Authorization": f"Bearer {s.token(v.visit_id)}"},
        )
        assert status == 200


async def test_widget_script_is_served(tmp_path: Path) -> None:
    async with serve(tmp_path) as s:
        async with s.http.get(f"{s.base}/assistant/static/assistant.js") as r:
            assert r.status == 200
            text = await r.text()
        assert "NfchAssistant" in text
        assert "innerHTML" not in text.replace("no innerHTML", "")


def test_routes_make_an_openapi_document() -> None:
    reg = Registry("/api/v1")
    reg.routes.extend(assistant_routes())
    doc = reg.openapi(title="t", version="1")
    ask = doc["paths"]["/api/v1/assistant/ask"]["post"]
    assert ask["operationId"] == "assistant_ask"
    assert "Answer" in doc["components"]["schemas"]
    assert "/api/v1/assistant/top-questions" in doc["paths"]


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_answers_are_json_with_every_language(tmp_path: Path, lang: str) -> None:
    async with serve(tmp_path) as s:
        status, a = await s.ask({"question": "주차", "lang": lang})
        assert status == 200
        assert set(a["answer"]) == {"ko", "en", "zh", "ja"}
        assert a["text"] == a["answer"][lang]
