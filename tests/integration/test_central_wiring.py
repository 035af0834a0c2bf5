"""The finished parts wired into the running central (`Central` from config, real Mosquitto):
station enrolment routes, the assistant, the room-stats estimator, the retained map and routes
directory, and the snapshot heartbeat."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from central.app import Central
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.bridge.directory import stored_versions
from central.config import CentralConfig
from central.engine import Engine
from central.estimator import RoomStatsEstimator
from central.seed import SampleHospital
from central.store import Database
from protocol.codec import decode
from protocol.messages import DirectoryMap, DirectoryRoutes, RoomQueueSnapshot
from protocol.mqtt import Incoming, MqttLink
from protocol.topics import Topics
from tests.support.central_harness import (
    Collector,
    central_config,
    mqtt_settings,
    running_central,
    seeded_engine,
    start_link,
)

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


async def test_metrics_say_when_the_assistant_warm_up_is_over(
    wired: tuple[Central, SampleHospital, str],
) -> None:
    """Operators (and the ingest benchmark) can tell when central's start-up warm-up, seconds
    of CPU for the Korean analyser, is over: the gauge turns 1 and the first answer is quick."""
    _central, _sample, base = wired
    async with aiohttp.ClientSession(base_url=base) as api:
        for _ in range(1200):  # up to a minute
            if "nfch_central_assistant_ready 1.0" in await (await api.get("/metrics")).text():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the assistant's warm-up never reported itself done in /metrics")
        r = await api.post("/api/v1/assistant/ask", json={"question": "수납은 어디서 해요?"})
        assert r.status == 200, await r.text()


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


async def test_map_and_routes_are_retained_with_versions_that_survive_a_restart(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    config = wired_config(tmp_path, broker.port, topic_root)
    engine, _sample = seeded_engine(config, patients=4)
    topics = Topics(topic_root)
    seen: list[tuple[int, int]] = []
    for round_ in range(2):  # the second run: a restart on the same database and map
        if round_:
            engine, _ = seeded_engine(config, patients=4)
        async with running_central(config, engine):
            # The first subscriber may see them published live; the second gets what the
            # broker retained.
            for attempt in ("live", "retained"):
                rx = Collector()
                link = MqttLink(
                    mqtt_settings(broker.port, topic_root),
                    f"kiosk-test-{round_}-{attempt}",
                    subscriptions=[
                        (topics.directory("map"), 1),
                        (topics.directory("routes"), 1),
                    ],
                    on_message=rx,
                )
                async with asyncio.TaskGroup() as tg:
                    task = await start_link(tg, link, "kiosk")
                    m = await rx.wait_for(lambda x: x.topic == topics.directory("map"))
                    r = await rx.wait_for(lambda x: x.topic == topics.directory("routes"))
                    task.cancel()
        assert m.retain
        assert r.retain
        dmap = decode(DirectoryMap, m.payload)
        droutes = decode(DirectoryRoutes, r.payload)
        assert droutes.map_version == dmap.version
        assert any(n.node_id == "st-lobby" for n in dmap.map.nodes)
        lobby = [x for x in droutes.routes if x.from_node == "st-lobby"]
        assert any(x.to_node == "door-lab-1" and x.nodes[0] == "st-lobby" for x in lobby)
        assert any(x.step_free for x in lobby)
        seen.append((dmap.version, droutes.version))
    assert seen[0] == seen[1]  # same map after a restart: same versions


def test_directory_versions_move_only_when_the_digest_changes(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "v.db"))
    db.migrate()
    try:
        now = datetime.now(UTC)
        first = stored_versions(db, {"map": "a" * 64, "routes": "b" * 64}, now)
        assert stored_versions(db, {"map": "a" * 64, "routes": "b" * 64}, now) == first
        # A closure came into force: new routes, same map.
        second = stored_versions(db, {"map": "a" * 64, "routes": "c" * 64}, now)
        assert second == {"map": first["map"], "routes": first["routes"] + 1}
        third = stored_versions(db, {"map": "d" * 64, "routes": "e" * 64}, now)
        assert third == {"map": first["map"] + 1, "routes": first["routes"] + 2}
    finally:
        db.dispose()


async def test_quiet_rooms_get_their_snapshot_again_on_the_heartbeat(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    config = wired_config(tmp_path, broker.port, topic_root, bridge={"snapshot_heartbeat_s": 0.3})
    engine, _sample = seeded_engine(config, patients=4)
    topics = Topics(topic_root)
    room_id = engine.room_ids()[0]
    topic = topics.room(room_id, "queue")
    async with running_central(config, engine) as central:
        got: asyncio.Queue[Incoming] = asyncio.Queue()

        async def on_message(msg: Incoming) -> None:
            await got.put(msg)

        link = MqttLink(
            mqtt_settings(broker.port, topic_root),
            "kiosk-hb",
            subscriptions=[(topic, 1)],
            on_message=on_message,
        )
        async with asyncio.TaskGroup() as tg:
            task = await start_link(tg, link, "kiosk")
            first = decode(RoomQueueSnapshot, (await asyncio.wait_for(got.get(), 10)).payload)
            # Nothing happens in the room; the same snapshot keeps coming.
            for _ in range(3):
                again = await asyncio.wait_for(got.get(), 5)
                snap = decode(RoomQueueSnapshot, again.payload)
                assert snap.version == first.version
                assert snap.room_id == room_id
            task.cancel()
        assert central.bridge is not None


def test_central_map_check_dispatches_to_the_wayfinding_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from central.cli import main
    from central.config import SAMPLE_MAP

    assert main(["map", "check", str(SAMPLE_MAP)]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": 3}', encoding="utf-8")
    assert main(["map", "check", str(bad)]) != 0
    assert "bad.json" in capsys.readouterr().err
    assert main(["map", "route", str(SAMPLE_MAP), "st-lobby", "door-lab-1"]) == 0


async def test_the_runner_applies_the_process_switch_interval_and_puts_it_back(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    """`[process] gil_switch_interval_ms` is what the server's threads run with (a SQL
    statement's thread waits at most that long for a snapshot build to let go), and an
    in-process caller gets its own interval back when central stops."""
    config = wired_config(
        tmp_path, broker.port, topic_root, process={"gil_switch_interval_ms": 0.7}
    )
    engine, _sample = seeded_engine(config, patients=2)
    before = sys.getswitchinterval()
    assert before != pytest.approx(0.0007)
    async with running_central(config, engine):
        assert sys.getswitchinterval() == pytest.approx(0.0007)
    assert sys.getswitchinterval() == before
