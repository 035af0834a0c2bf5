"""The dashboard's admin pages in Debian's Chromium (Playwright) against a real central on a
free port: station enrolment codes (shown once, listed without the secret, withdrawn), map
closures (a whole elevator, reopened; a hostile reason stays text), service-day settings
(validated with the field marked, audited, applied in the engine, a day start scheduled),
role-limited sub-pages, and analytics of a chosen range with the CSV following it.

Screenshots go to tmp; with NFCH_UPDATE_SCREENSHOTS=1 they replace docs/screenshots/.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from central.clock import FakeClock
from central.seed import sample_hospital
from tests.integration import test_web_browser as web_browser
from tests.integration.test_web_browser import XSS, shot_path, staff_login, watch
from tests.support.web_central import WebCentral, web_central

browser = web_browser.browser  # the Chromium fixture of the dashboard's browser tests

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SEOUL = ZoneInfo("Asia/Seoul")
CODE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$")


async def confirm(page: Any) -> None:
    await page.locator("#modal").wait_for(state="visible")
    await page.click("#modal-ok")


async def make_code(page: Any, name: str, name_en: str, location: str) -> str:
    await page.fill("#code-name", name)
    await page.fill("#code-name-en", name_en)
    await page.select_option("#code-location", location)
    await page.click("#code-form button[type='submit']")
    code = page.locator("#issued-code")
    await code.wait_for()
    text = (await code.text_content()) or ""
    assert CODE.match(text), text
    return text


async def test_admin_pages_codes_closures_and_settings(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=12) as c:
        ctx = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="ko-KR")
        page = await ctx.new_page()
        seen = watch(page)
        await staff_login(page, c, "admin1")
        await page.click("[data-tab='admin']")
        await page.wait_for_selector("#users tbody tr[data-user='nurse1']")

        # ---- enrolment codes: shown once, listed without the secret, withdrawn
        await page.click("[data-sub='codes']")
        first = await make_code(page, "1층 로비 접수", "1F lobby desk", "st-lobby")
        row = page.locator("#codes tbody tr[data-status='pending']")
        await expect(row).to_have_count(1)
        sid = await row.get_attribute("data-station")
        assert sid is not None
        assert first not in ((await page.locator("#codes").text_content()) or "")
        await row.locator("[data-op='revoke-code']").click()
        await confirm(page)
        await expect(page.locator(f"#codes tbody tr[data-station='{sid}']")).to_have_attribute(
            "data-status", "revoked"
        )
        second = await make_code(page, "2층 내과 접수", "2F internal medicine desk", "st-2f")
        assert second != first
        await expect(page.locator("#codes tbody tr[data-status='pending']")).to_have_count(1)
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-admin-codes.png")))

        # ---- closures: a whole elevator, a hostile reason as text, reopen one landing
        await page.click("[data-sub='closures']")
        await page.wait_for_selector(
            "#closure-target option[value='group:elev-b']", state="attached"
        )
        for _ in range(200):  # the directory task's first read of the map
            if c.wayfinding.map is not None:
                break
            await page.wait_for_timeout(50)
        await page.select_option("#closure-target", "group:elev-b")
        await page.fill("#closure-reason", XSS)
        await page.fill("#closure-reason-en", "Elevator maintenance")
        await page.click("#closure-form button[type='submit']")
        landings = [n.node_id for n in (c.wayfinding.map.nodes if c.wayfinding.map else [])]
        landings = [n for n in landings if n.startswith("elev-b-")]
        assert len(landings) >= 2
        rows = page.locator("#closures tbody tr[data-source='api']")
        await expect(rows).to_have_count(len(landings))
        assert XSS in ((await rows.first.text_content()) or "")
        assert await page.locator("#closures img").count() == 0
        await rows.first.locator("[data-op='reopen']").click()
        await confirm(page)
        await expect(rows).to_have_count(len(landings) - 1)
        await page.select_option("#closure-target", "group:stairs-w")
        await page.fill("#closure-reason", "바닥 공사")
        await page.fill("#closure-reason-en", "Floor works")
        await page.fill("#closure-until", "2030-01-02T18:00")
        await page.click("#closure-form button[type='submit']")
        await expect(page.locator("#closures tbody tr[data-node^='stairs-w-']")).not_to_have_count(
            0
        )
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-admin-closures.png")))

        # ---- settings: a bad value is refused whole and its field marked
        await page.click("[data-sub='settings']")
        await page.wait_for_selector("#set-lease_low_water")
        await page.fill("#set-missed_requeue_after", "1")
        await page.fill("#set-lease_low_water", "40")
        await page.click("#settings-form button[type='submit']")
        error = page.locator("#settings-error")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text("아무것도 바뀌지 않았습니다")
        await expect(error).to_contain_text("lease_block_size")
        await expect(page.locator("#set-lease_low_water")).to_have_class(re.compile("invalid"))
        assert c.engine.queue.missed_requeue_after == 3
        # ... then good ones: applied in the engine, audited, a day start scheduled.
        await page.fill("#set-lease_low_water", "5")
        await page.fill("#set-missed_requeue_after", "2")
        await page.fill("#set-day_starts_at", "05:00")
        await page.click("#settings-form button[type='submit']")
        await expect(page.locator("#settings-history tr[data-change]")).to_have_count(2)
        await expect(error).to_be_hidden()
        assert c.engine.queue.missed_requeue_after == 2
        await expect(page.locator("[data-pending='day_starts_at']")).to_contain_text("05:00")
        tz = page.locator("#set-timezone")
        await expect(tz).to_be_disabled()
        await expect(tz).to_have_value("Asia/Seoul")
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-admin-settings.png")))
        await page.click("#lang-toggle")
        await expect(page.locator("[data-sub='settings']")).to_have_text("Service day")
        await expect(page.locator("[data-setting='missed_requeue_after'] label")).to_have_text(
            "Missed call: back after N others"
        )
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-admin-settings-en.png")))
        assert seen["dialogs"] == []
        assert seen["errors"] == []

        # ---- a technician: codes and closures, not accounts or settings
        tech = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
        seen_tech = watch(tech)
        await staff_login(tech, c, "tech1")
        await tech.click("[data-tab='admin']")
        await tech.wait_for_selector("#codes tbody tr[data-station]")
        assert await tech.locator("[data-sub='users']").is_hidden()
        assert await tech.locator("[data-sub='settings']").is_hidden()
        assert await tech.locator("[data-sub='closures']").is_visible()
        assert seen_tech["errors"] == []
        await ctx.close()


def _serve(c: WebCentral, clock: FakeClock, n: int) -> None:
    day = c.engine.service_day()
    visits = [v.visit_id for v in c.engine.visits(service_day=day, limit=1000)][:n]
    for visit_id in visits:
        c.engine.check_in(visit_id, actor="reception")
    for visit_id in visits:
        clock.advance(minutes=7)
        c.engine.call(visit_id, actor="nurse1")
        c.engine.start(visit_id, actor="nurse1")
        clock.advance(minutes=4)
        c.engine.complete(visit_id, actor="nurse1")


async def test_analytics_of_a_chosen_range(tmp_path: Path, browser: Any) -> None:
    today = datetime.now(SEOUL).date()
    yesterday = today - timedelta(days=1)
    clock = FakeClock(datetime.combine(yesterday, dtime(9, 0), SEOUL))
    async with web_central(tmp_path, patients=14, clock=clock) as c:
        _serve(c, clock, 4)
        clock.set(datetime.combine(today, dtime(9, 0), SEOUL))
        c.engine.load(sample_hospital(today, patients=14).data)
        _serve(c, clock, 9)
        ctx = await browser.new_context(viewport={"width": 1600, "height": 1100})
        page = await ctx.new_page()
        seen = watch(page)
        await staff_login(page, c)
        await page.click("[data-tab='analytics']")
        await page.wait_for_selector(f"body[data-an-range='{today}/{today}']")
        await expect(page.locator(".an-card .v").first).to_have_text("9")
        await page.click("[data-range='yesterday']")
        await page.wait_for_selector(f"body[data-an-range='{yesterday}/{yesterday}']")
        await expect(page.locator(".an-card .v").first).to_have_text("4")
        assert await page.locator("#an-bottleneck").is_hidden()
        await page.click("[data-range='7']")
        week = f"{today - timedelta(days=6)}/{today}"
        await page.wait_for_selector(f"body[data-an-range='{week}']")
        await expect(page.locator(".an-card .v").first).to_have_text("13")
        await expect(page.locator("#an-days-fig")).to_be_visible()
        # The range includes today: the bottleneck line is shown, with room names as chips.
        bottleneck = (await page.locator("#an-bottleneck").text_content()) or ""
        assert "[object" not in bottleneck
        assert await page.locator("#an-bottleneck .chip, #an-bottleneck span").count() >= 1
        assert await page.locator("#an-days svg rect").count() == 2
        href = await page.locator("#an-csv").get_attribute("href")
        assert href == f"/staff/api/analytics.csv?from={today - timedelta(days=6)}&to={today}"
        async with page.expect_download() as dl:
            await page.click("#an-csv")
        path = tmp_path / "range.csv"
        await (await dl.value).save_as(str(path))
        lines = path.read_text().splitlines()
        assert lines[0].startswith("service_day,room_id,")
        assert {ln.split(",")[0] for ln in lines[1:]} == {yesterday.isoformat(), today.isoformat()}
        # Typed dates work the same way.
        await page.fill("#an-from", yesterday.isoformat())
        await page.fill("#an-to", yesterday.isoformat())
        await page.click("#an-range button[type='submit']")
        await page.wait_for_selector(f"body[data-an-range='{yesterday}/{yesterday}']")
        await page.click("[data-range='7']")
        await page.wait_for_selector(f"body[data-an-range='{week}']")
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-analytics-range.png")))
        assert seen["dialogs"] == []
        assert seen["errors"] == []
        await ctx.close()
