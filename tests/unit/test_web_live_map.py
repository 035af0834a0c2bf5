"""The phone page and the help assistant follow the map served now: a map installed by
`central map import` and closures set through the API, re-read when they change (not only
the map loaded at start-up)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from central.assistant.config import AssistantConfig
from central.assistant.service import AssistantService
from central.config import SAMPLE_MAP
from central.engine import Engine
from central.seed import sample_hospital
from central.store import Database
from central.wayfinding.closures import merged, put_closures, stored_closures
from central.wayfinding.installed import data_dir, install_map, installed_map_path
from central.wayfinding.loader import load_map
from central.wayfinding.routing import build_graphs, find_route, group_closures
from central.wayfinding.svg import render_route_svg
from central.web.live_map import LiveMap
from protocol.base import LocalizedText
from protocol.hospital_map import HospitalMap
from tests.support.web_central import PASSWORDS, WebCentral, web_central

REASON = LocalizedText(ko="점검 중", en="Maintenance")
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _moved_map(tmp: Path, node_id: str, dx: float) -> Path:
    """The sample map with one node moved sideways (a different drawing, same graph)."""
    data: dict[str, Any] = json.loads(SAMPLE_MAP.read_text(encoding="utf-8"))
    for n in data["nodes"]:
        if n["node_id"] == node_id:
            n["x"] += dx
    path = tmp / f"moved-{node_id}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(str(tmp_path / "data" / "central.db"))
    d.migrate()
    yield d
    d.dispose()


def test_live_map_follows_an_imported_map_and_api_closures(db: Database, tmp_path: Path) -> None:
    ticks = Ticks()
    live = LiveMap(db, SAMPLE_MAP, check_s=5.0, clock=ticks)
    first, rev1 = live.snapshot()
    assert first is not None
    assert live.loads == 1
    x0 = next(n.x for n in first.nodes if n.node_id == "door-os-1")
    install_map(db, _moved_map(tmp_path, "door-os-1", 3.0), tmp_path / "data")
    assert live.current() is first  # not looked at again before check_s
    ticks.t += 5.0
    second, rev2 = live.snapshot()
    assert second is not None
    assert rev2 != rev1
    assert next(n.x for n in second.nodes if n.node_id == "door-os-1") == x0 + 3.0
    assert live.loads == 2
    ticks.t += 5.0
    assert live.current() is second  # unchanged file and closures: nothing re-read
    assert live.loads == 2
    # A closure through the API (the table the API writes) is merged in.
    put_closures(db, group_closures(second, "elev-a", REASON), "admin1", NOW)
    ticks.t += 5.0
    third = live.current()
    assert third is not None
    assert {c.node_id for c in third.closures} >= {
        n.node_id for n in second.nodes if n.group == "elev-a"
    }
    assert live.loads == 2  # the file was not read again for a closure
    # A broken file keeps the last good map.
    path = installed_map_path(db)
    assert path is not None
    path.write_text("{ not json", encoding="utf-8")
    ticks.t += 5.0
    assert live.current() is third
    ticks.t += 5.0
    assert live.current() is third
    assert live.loads == 2


def test_a_configured_map_file_is_not_replaced_by_an_import(db: Database, tmp_path: Path) -> None:
    mine = _moved_map(tmp_path, "entrance", 1.0)
    live = LiveMap(db, mine, check_s=0.0)
    install_map(db, _moved_map(tmp_path, "door-os-1", 3.0), tmp_path / "data")
    m = live.current()
    assert m is not None
    assert live.path() == mine


def _route_nodes(m: HospitalMap | None, a: str, b: str) -> list[str]:
    assert m is not None
    return find_route(build_graphs(m), a, b, True).nodes


def test_the_assistant_follows_the_live_map(db: Database, tmp_path: Path) -> None:
    engine = Engine(db, site_key=b"live-map-assistant-key-012345678")
    engine.load(sample_hospital(engine.service_day(), patients=2).data)
    live = LiveMap(db, SAMPLE_MAP, check_s=0.0)
    service = AssistantService.from_config(AssistantConfig(), engine, load_map(SAMPLE_MAP))
    a = service.assistant
    a.follow_map(live.current)
    before = a.nearest("st-lobby", ["door-os-1"], True)
    assert before is not None
    elevator = next(n for n in before.nodes if n.startswith("elev-"))
    group = elevator.rsplit("-", 1)[0]
    m = live.current()
    assert m is not None
    put_closures(db, group_closures(m, group, REASON), "admin1", NOW)
    after = a.nearest("st-lobby", ["door-os-1"], True)
    assert after is not None
    assert not any(n.startswith(group + "-") for n in after.nodes)
    assert after.nodes == _route_nodes(live.current(), "st-lobby", "door-os-1")
    # An imported map reaches the assistant's floor labels and places too.
    data: dict[str, Any] = json.loads(SAMPLE_MAP.read_text(encoding="utf-8"))
    for f in data["floors"]:
        if f["floor_id"] == "3f":
            f["label"] = "3층"
    src = tmp_path / "relabelled.json"
    src.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert a.floor_of("door-os-1") == "3F"
    install_map(db, src, tmp_path / "data")
    assert a.floor_of("door-os-1") == "3층"


# ------------------------------------------------------------------ the phone page


def _upper_floor_visit(c: WebCentral) -> tuple[str, str, bool]:
    """A registered visit whose first room is upstairs (the route needs an elevator)."""
    nodes = {r.room_id: r.node_id for r in c.engine.directory_rooms().rooms}
    m = load_map(SAMPLE_MAP)
    floor = {n.node_id: n.floor_id for n in m.nodes}
    for v in c.engine.visits(limit=1000):
        node = nodes.get(v.steps[v.current_step].room_id)
        if node and floor.get(node) != "1f":
            return v.visit_id, node, v.step_free
    raise AssertionError("no visit starts upstairs")


def _expected_svg(c: WebCentral, path: Path, target: str, step_free: bool) -> str:
    m = merged(load_map(path), stored_closures(c.engine.db))
    graphs = build_graphs(m, c.engine.clock.now())
    return render_route_svg(m, find_route(graphs, "entrance", target, step_free), lang="ko")


async def _svg_becomes(s: aiohttp.ClientSession, url: str, want: str) -> None:
    deadline = time.monotonic() + 10.0
    got = ""
    while time.monotonic() < deadline:
        r = await s.get(url)
        assert r.status == 200, await r.text()
        got = await r.text()
        if got == want:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the phone page's route did not follow the map")


async def test_the_phone_route_follows_api_closures_and_an_imported_map(
    tmp_path: Path,
) -> None:
    async with web_central(tmp_path, patients=30) as c:
        assert c.live_map is not None
        visit_id, target, step_free = _upper_floor_visit(c)
        link, _claims = c.auth.make_link(visit_id)
        token = c.auth.redeem_link(link).token
        url = f"/p/v/{visit_id}/route.svg?lang=ko"
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[c.base])
        async with aiohttp.ClientSession(base_url=c.base, cookie_jar=jar) as admin_s:
            r = await admin_s.post(
                "/auth/login",
                json={"username": "admin1", "password": PASSWORDS["admin1"]},
                headers={"Origin": c.base},
            )
            assert r.status == 200
            csrf = next(ck.value for ck in admin_s.cookie_jar if ck.key == "nfch_csrf")
            headers = {"Origin": c.base, "X-CSRF-Token": csrf}
            async with aiohttp.ClientSession(
                base_url=c.base, headers={"Cookie": f"nfch_p={token}"}
            ) as phone:
                first = await (await phone.get(url)).text()
                assert first == _expected_svg(c, SAMPLE_MAP, target, step_free)
                sample = load_map(SAMPLE_MAP)
                route = find_route(sample, "entrance", target, step_free)
                group = next(n.group for n in sample.nodes if n.group and n.node_id in route.nodes)
                for _ in range(200):  # the directory task's first read (up to 10 s)
                    if c.wayfinding.map is not None:
                        break
                    await asyncio.sleep(0.05)
                r = await admin_s.post(
                    "/api/v1/map/closures",
                    json={"group": group, "reason": REASON.model_dump()},
                    headers=headers,
                )
                assert r.status == 200, await r.text()
                closed = _expected_svg(c, SAMPLE_MAP, target, step_free)
                assert closed != first
                await _svg_becomes(phone, url, closed)
                # An imported map (the target's door moved) replaces the sample.
                folder = data_dir(c.engine.db, tmp_path / "site.key")
                moved = _moved_map(tmp_path, target, 2.0)
                await asyncio.to_thread(install_map, c.engine.db, moved, folder)
                installed = installed_map_path(c.engine.db)
                assert installed is not None
                await _svg_becomes(phone, url, _expected_svg(c, installed, target, step_free))
                # Reopening restores the way through the elevator, on the imported map.
                for n in load_map(installed).nodes:
                    if n.group == group:
                        r = await admin_s.delete(
                            f"/api/v1/map/closures/{n.node_id}", headers=headers
                        )
                        assert r.status == 200, await r.text()
                reopened = _expected_svg(c, installed, target, step_free)
                assert reopened != closed
                await _svg_becomes(phone, url, reopened)
