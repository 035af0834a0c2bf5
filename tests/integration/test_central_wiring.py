"""The finished parts wired into the running central (`Central` from config, real Mosquitto):
station enrolment routes, the assistant, the room-stats estimator, the retained map and routes
directory, and the snapshot heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from central.app import Central
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.config import CentralConfig
from central.engine import Engine
from central.estimator import RoomStatsEstimator
from central.seed import SampleHospital
from tests.support.central_harness import central_config, running_central, seeded_engine

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "admin-password-1"
FAST_AUTH = {"password_time_cost": 1, "password_memory_kib": 64, "password_parallelism": 1}


def wired_config(tmp: Path, port: int, root: str, **over: Any) -> CentralConfig:
    base = central_config(tmp, port, root).model_dump(mode="json")
    base["auth"] = {**base["auth"], **FAST_AUTH}
    base["enrolment"] = {"broker_host": "central.hospital.lan", "broker_port": 1883}
    for section, values in over.items():
        base[section] = {**(base.get(section) or {}), **values}
    return CentralConfig.model_validate(base)


def add_admin(config: CentralConfig, engine: Engine) -> None:
    auth = AuthService(
        engine.db, config.auth, derive_key(engine.site_key, "jwt"), clock=engine.clock
    )
    auth.add_user("admin1", "이관리", "admin", ADMIN_PASSWORD)


async def bearer(base: str, user: str = "admin1", password: str = ADMIN_PASSWORD) -> dict[str, str]:
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
    async with aiohttp.ClientSession(base_url=base, cookie_jar=jar) as s:
        r = await s.post(
            "/auth/login", json={"username": user, "password": password}, headers={"Origin": base}
        )
        assert r.status == 200, await r.text()
        access = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_at")
    return {"Authorization": f"Bearer {access}"}


@pytest.fixture
async def wired(
    tmp_path: Path, broker: Any, topic_root: str
) -> AsyncIterator[tuple[Central, SampleHospital, str]]:
    config = wired_config(tmp_path, broker.port, topic_root)
    engine, sample = seeded_engine(config, patients=12)
    add_admin(config, engine)
    async with running_central(config, engine) as central:
        yield central, sample, f"http://127.0.0.1:{central.http_port}"


async def test_enrolment_code_then_exchange_through_the_runner(
    wired: tuple[Central, SampleHospital, str],
) -> None:
    central, _sample, base = wired
    h = await bearer(base)
    async with aiohttp.ClientSession(base_url=base) as api:
        r = await api.post("/api/v1/stations/enrolment-codes", json={"name": "로비"})
        assert r.status == 401  # not without a token
        r = await api.post(
            "/api/v1/stations/enrolment-codes",
            json={"name": "로비", "name_en": "Lobby", "location": "lobby"},
            headers=h,
        )
        assert r.status == 200, await r.text()
        code = (await r.json())["code"]
        r = await api.post("/api/v1/enrol", json={"code": code, "hostname": "pi-lobby"})
        assert r.status == 200, await r.text()
        got = await r.json()
        assert got["mqtt"]["host"] == "central.hospital.lan"
        assert got["mqtt"]["topic_root"] == central.config.mqtt.topic_root
        assert bytes.fromhex(got["site_key_hex"]) == central.engine.site_key
        r = await api.post("/api/v1/enrol", json={"code": code})
        assert r.status == 403  # a code works once
        r = await api.post(f"/api/v1/stations/{got['station_id']}/revoke", headers=h)
        assert r.status == 200, await r.text()
        doc = await (await api.get("/api/v1/openapi.json")).json()
        for path in (
            "/api/v1/stations/enrolment-codes",
            "/api/v1/enrol",
            "/api/v1/stations/{station_id}/revoke",
        ):
            assert "post" in doc["paths"][path], path


async def test_the_runner_answers_the_assistant(wired: tuple[Central, SampleHospital, str]) -> None:
    _central, _sample, base = wired
    async with aiohttp.ClientSession(base_url=base) as api:
        r = await api.post(
            "/api/v1/assistant/ask", json={"question": "화장실 어디예요?", "lang": "ko"}
        )
        assert r.status == 200, await r.text()
        answer = await r.json()
        assert answer["kind"] != "no_match", answer
        assert answer["text"]
        r = await api.get("/api/v1/assistant/top-questions?lang=en")
        assert r.status == 200, await r.text()
        doc = await (await api.get("/api/v1/openapi.json")).json()
        assert "post" in doc["paths"]["/api/v1/assistant/ask"]
        assert (await api.get("/assistant/static/assistant.js")).status == 200


async def test_the_phone_page_has_the_chat_box(wired: tuple[Central, SampleHospital, str]) -> None:
    central, _sample, base = wired
    visit_id = central.engine.visits(limit=1)[0].visit_id
    async with aiohttp.ClientSession(base_url=base) as api:
        html = await (await api.get(f"/p/v/{visit_id}")).text()
    assert f'data-nfch-assistant data-lang="ko" data-ask-url="/p/v/{visit_id}/api/ask"' in html
    assert '<script src="/assistant/static/assistant.js" defer></script>' in html


async def test_snapshots_carry_the_room_stats_estimator_intervals(
    wired: tuple[Central, SampleHospital, str],
) -> None:
    central, _sample, base = wired
    engine = central.engine
    assert isinstance(engine.estimator, RoomStatsEstimator)
    feed = central.audit_feed
    assert feed is not None
    visits = [v.visit_id for v in engine.visits(limit=12)]
    rooms: dict[str, int] = {}
    for visit_id in visits:
        room_id = engine.check_in(visit_id, actor="test").visit.room_id
        assert room_id is not None
        rooms[room_id] = rooms.get(room_id, 0) + 1
    room_id = max(rooms, key=lambda r: rooms[r])
    assert rooms[room_id] >= 2
    engine.call_next(room_id, actor="test")  # one called, the rest wait
    # The feed tails the audit log: the estimator ends up knowing who waits where.
    deadline = asyncio.get_running_loop().time() + 10
    while engine.estimator.waiting_count(room_id) != rooms[room_id] - 1:
        assert asyncio.get_running_loop().time() < deadline, feed.after_id
        await asyncio.sleep(0.05)
    last = engine.audit(after_id=0, limit=1000)[-1].audit_id
    while feed.after_id != last:
        assert asyncio.get_running_loop().time() < deadline, (feed.after_id, last)
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession(base_url=base) as api:
        snap = await (await api.get(f"/api/v1/rooms/{room_id}/queue")).json()
    assert snap["waiting"]
    for entry in snap["waiting"]:
        low, mid, high = entry["wait_low_s"], entry["estimated_wait_s"], entry["wait_high_s"]
        assert low is not None, entry  # the simple estimator gives no interval
        assert high is not None, entry
        assert low <= mid <= high, entry
        assert high > low, entry
