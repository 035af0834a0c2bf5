"""The dashboard's station fleet view revokes a station through the running central."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from central.enrolment import EnrolmentService
from tests.integration.test_central_wiring import ADMIN_PASSWORD, add_admin, bearer, wired_config
from tests.integration.test_web_browser import browser, watch  # noqa: F401  (fixture)
from tests.support.central_harness import running_central, seeded_engine

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_an_admin_revokes_a_station_from_the_fleet_view(
    tmp_path: Path,
    browser: Any,  # noqa: F811
    broker: Any,
    topic_root: str,
) -> None:
    config = wired_config(tmp_path, broker.port, topic_root)
    engine, _sample = await asyncio.to_thread(seeded_engine, config, 4)
    add_admin(config, engine)
    async with running_central(config, engine) as central:
        base = f"http://127.0.0.1:{central.http_port}"
        h = await bearer(base)
        async with aiohttp.ClientSession(base_url=base) as api:
            r = await api.post("/api/v1/stations/enrolment-codes", json={"name": "로비"}, headers=h)
            code = (await r.json())["code"]
            r = await api.post("/api/v1/enrol", json={"code": code})
            assert r.status == 200, await r.text()
            station_id = (await r.json())["station_id"]
        page = await browser.new_page()
        seen = watch(page)
        await page.goto(f"{base}/staff/login")
        await page.fill("#username", "admin1")
        await page.fill("#password", ADMIN_PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_url(f"{base}/staff")
        await page.click("[data-tab='fleet']")
        button = page.locator(f"#fleet tr[data-station='{station_id}'] [data-revoke]")
        await button.click()
        await page.click("#modal-ok")
        service = EnrolmentService(engine.db, config.enrolment)  # type: ignore[arg-type]
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            rows = {c.station_id: c for c in await asyncio.to_thread(service.credentials)}
            if rows[station_id].revoked_at is not None:
                break
            assert asyncio.get_running_loop().time() < deadline, "not revoked"
            await asyncio.sleep(0.1)
        assert seen["errors"] == []
