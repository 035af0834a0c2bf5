"""Map administration on the running central (real Mosquitto): closures through the API
republish the retained routes at once, avoiding the closed elevator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from central.cli import main as central_main
from central.config import SAMPLE_MAP
from protocol.codec import decode
from protocol.hospital_map import Route
from protocol.messages import DirectoryMap, DirectoryRoutes
from protocol.mqtt import MqttLink
from protocol.topics import Topics
from tests.integration.test_central_wiring import add_admin, bearer, wired_config
from tests.support.central_harness import (
    Collector,
    mqtt_settings,
    running_central,
    seeded_engine,
    start_link,
)

pytestmark = pytest.mark.integration

REASON = {"ko": "점검 중", "en": "Under maintenance"}


def _step_free(doc: DirectoryRoutes, to: str) -> Route | None:
    return next(
        (r for r in doc.routes if r.from_node == "st-lobby" and r.to_node == to and r.step_free),
        None,
    )


async def test_closing_an_elevator_group_reroutes_at_once_and_reopening_restores(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    # A long periodic check: only the API's wake-up can explain a prompt republication.
    config = wired_config(tmp_path, broker.port, topic_root, bridge={"map_check_s": 600})
    engine, _ = seeded_engine(config, patients=4)
    add_admin(config, engine)
    topics = Topics(topic_root)
    async with running_central(config, engine) as central:
        base = f"http://127.0.0.1:{central.http_port}"
        auth = await bearer(base)
        rx = Collector()
        link = MqttLink(
            mqtt_settings(broker.port, topic_root),
            "kiosk-map-admin",
            subscriptions=[(topics.directory("routes"), 1), (topics.directory("map"), 1)],
            on_message=rx,
        )

        async def routes_after(version: int) -> DirectoryRoutes:
            msg = await rx.wait_for(
                lambda x: (
                    x.topic == topics.directory("routes")
                    and decode(DirectoryRoutes, x.payload).version > version
                )
            )
            return decode(DirectoryRoutes, msg.payload)

        async with asyncio.TaskGroup() as tg, aiohttp.ClientSession(base_url=base) as s:
            task = await start_link(tg, link, "kiosk")
            first = await routes_after(0)
            before = _step_free(first, "door-os-1")
            assert before is not None
            elevator = next(n for n in before.nodes if n.startswith("elev-"))
            group = elevator.rsplit("-", 1)[0]  # elev-a-1f -> elev-a

            r = await s.post(
                "/api/v1/map/closures", json={"group": group, "reason": REASON}, headers=auth
            )
            assert r.status == 200, await r.text()
            listed = (await r.json())["closures"]
            assert {c["node_id"] for c in listed} == {f"{group}-1f", f"{group}-2f", f"{group}-3f"}
            closed = await routes_after(first.version)
            detour = _step_free(closed, "door-os-1")
            assert detour is not None, "the other elevator still serves 3F"
            assert not any(n.startswith(group + "-") for n in detour.nodes)
            mdoc = await rx.wait_for(
                lambda x: (
                    x.topic == topics.directory("map")
                    and len(decode(DirectoryMap, x.payload).map.closures) == 3
                )
            )
            assert decode(DirectoryMap, mdoc.payload).version == closed.map_version

            # Unknown node: 422 naming it, nothing stored.
            r = await s.post(
                "/api/v1/map/closures",
                json={"node_id": "elev-z-9f", "reason": REASON},
                headers=auth,
            )
            assert r.status == 422
            body = await r.json()
            assert "elev-z-9f" in body["error"]["detail"]
            r = await s.get("/api/v1/map/closures", headers=auth)
            assert len((await r.json())["closures"]) == 3
            # Without login: refused.
            r = await s.get("/api/v1/map/closures")
            assert r.status == 401

            for floor in ("1f", "2f", "3f"):
                r = await s.delete(f"/api/v1/map/closures/{group}-{floor}", headers=auth)
                assert r.status == 200, await r.text()
            r = await s.delete(f"/api/v1/map/closures/{group}-1f", headers=auth)
            assert r.status == 404
            reopened = await routes_after(closed.version)
            while reopened.routes != first.routes:  # one republish per reopened landing
                reopened = await routes_after(reopened.version)
            after = _step_free(reopened, "door-os-1")
            assert after is not None
            assert after.nodes == before.nodes
            task.cancel()


async def test_an_imported_map_is_served_by_the_running_central_at_its_next_check(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    config = wired_config(tmp_path, broker.port, topic_root, bridge={"map_check_s": 0.3})
    engine, _ = seeded_engine(config, patients=4)
    topics = Topics(topic_root)
    data = json.loads(SAMPLE_MAP.read_text(encoding="utf-8"))
    data["closures"] = [{"node_id": "elev-b-2f", "reason": REASON}]
    new_map = tmp_path / "new-map.json"
    new_map.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    async with running_central(config, engine):
        rx = Collector()
        link = MqttLink(
            mqtt_settings(broker.port, topic_root),
            "kiosk-map-import",
            subscriptions=[(topics.directory("map"), 1)],
            on_message=rx,
        )
        async with asyncio.TaskGroup() as tg:
            task = await start_link(tg, link, "kiosk")
            first = decode(DirectoryMap, (await rx.wait_for(lambda x: True)).payload)
            assert first.map.closures == []
            argv = ["map", "import", str(new_map), "--database", config.database.url]
            assert await asyncio.to_thread(central_main, argv) == 0
            msg = await rx.wait_for(
                lambda x: decode(DirectoryMap, x.payload).version > first.version
            )
            served = decode(DirectoryMap, msg.payload)
            assert [c.node_id for c in served.map.closures] == ["elev-b-2f"]
            task.cancel()
