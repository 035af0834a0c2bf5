"""The dashboard and the phone page in Debian's Chromium (Playwright) against a real central
server on a free port: live calls without reload, throttled logins, XSS names as text, silent
access-token refresh, refresh-token reuse logging the family out.

Screenshots go to tmp; with NFCH_UPDATE_SCREENSHOTS=1 they replace docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from playwright.async_api import expect

from central.engine import Engine
from protocol.messages import ReaderHealth, StationStatus
from tests.support.web_central import PASSWORDS, web_central

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = "<img src=x onerror=alert(1)>"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


def shot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("NFCH_UPDATE_SCREENSHOTS") == "1":
        return SHOTS / name
    return tmp_path / name


def watch(page: Any) -> dict[str, list[str]]:
    """Record dialogs (an XSS would open one), page errors and main-frame navigations."""
    seen: dict[str, list[str]] = {"dialogs": [], "errors": [], "navigations": []}

    async def on_dialog(d: Any) -> None:
        seen["dialogs"].append(d.message)
        await d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on(
        "framenavigated",
        lambda f: seen["navigations"].append(f.url) if f == page.main_frame else None,
    )
    return seen


class HasBase(Protocol):
    """A server under test: its base URL."""

    @property
    def base(self) -> str: ...


async def staff_login(page: Any, c: HasBase, user: str = "nurse1", rooms: str = "") -> None:
    await page.goto(f"{c.base}/staff/login")
    await page.fill("#username", user)
    await page.fill("#password", PASSWORDS[user])
    await page.click("#login-submit")
    await page.wait_for_url(f"{c.base}/staff")
    if rooms:
        await page.goto(f"{c.base}/staff?rooms={rooms}")
    await page.wait_for_selector("body[data-live='1']")


def queue_in_one_room(engine: Engine, n: int) -> tuple[str, list[str]]:
    """Check in visits until one room has `n` waiting; returns (room, visits in line order)."""
    by_room: dict[str, list[str]] = {}
    for v in engine.visits(limit=1000):
        room = v.steps[v.current_step].room_id
        by_room.setdefault(room, []).append(v.visit_id)
    room, visits = max(by_room.items(), key=lambda kv: len(kv[1]))
    assert len(visits) >= n, by_room
    for visit_id in visits[:n]:
        engine.check_in(visit_id, actor="reception")
    return room, visits[:n]


async def test_call_next_reaches_phone_and_second_tab_within_a_second(
    tmp_path: Path, browser: Any
) -> None:
    async with web_central(tmp_path, patients=40) as c:
        room, line = queue_in_one_room(c.engine, 3)
        c.publisher.submit(
            c.engine.check_in(c.engine.visits(limit=1000)[-1].visit_id, actor="r").changes
        )
        first = line[0]
        staff = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="ko-KR")
        tab1 = await staff.new_page()
        seen1 = watch(tab1)
        await staff_login(tab1, c, rooms=room)
        tab2 = await staff.new_page()
        seen2 = watch(tab2)
        await tab2.goto(f"{c.base}/staff?rooms={room}")
        await tab2.wait_for_selector("body[data-live='1']")
        row = f".board[data-room='{room}'] [data-section='waiting'] [data-visit='{first}']"
        for tab in (tab1, tab2):
            await tab.wait_for_selector(row)
        # Full names on the staff boards.
        name = c.engine.visit(first).patient_name
        await expect(tab2.locator(f"{row} .name")).to_have_text(name)

        phone_ctx = await browser.new_context(
            viewport={"width": 412, "height": 915}, is_mobile=True, locale="ko-KR"
        )
        phone = await phone_ctx.new_page()
        seen_phone = watch(phone)
        token, _ = c.auth.make_link(first)
        await phone.goto(f"{c.base}/p/v/{first}?t={token}")
        await phone.wait_for_selector("body[data-live='1']")
        assert phone.url == f"{c.base}/p/v/{first}"  # the one-time token left the address bar
        ticket = str(c.engine.visit(first).ticket_number)
        assert await phone.locator("#p-number").text_content() == ticket
        assert "단계 중" in (await phone.locator("#p-progress").text_content() or "")
        assert await phone.locator("#p-alert").is_visible()  # first in line: "곧 차례입니다"
        navs = (len(seen2["navigations"]), len(seen_phone["navigations"]))

        await tab1.click(f".board[data-room='{room}'] [data-op='call-next']")
        started = time.monotonic()
        calling = f".board[data-room='{room}'] [data-section='calling'] [data-visit='{first}']"
        await tab2.wait_for_selector(calling, timeout=1000)
        await phone.wait_for_selector("#p-alert.called", timeout=1000)
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, elapsed
        assert (len(seen2["navigations"]), len(seen_phone["navigations"])) == navs  # no reload
        assert await tab1.locator(calling).count() == 1
        alert = await phone.locator("#p-alert").text_content() or ""
        assert "들어오세요" in alert

        # Phone page in English, then Chinese and Japanese: same data, other language.
        await phone.click("[data-lang='en']")
        assert "Please go in now" in (await phone.locator("#p-alert").text_content() or "")
        await phone.click("[data-lang='ja']")
        assert "段階" in (await phone.locator("#p-progress").text_content() or "")
        await phone.click("[data-lang='ko']")
        await phone.screenshot(path=str(shot_path(tmp_path, "phone-page.png")), full_page=True)
        await tab1.screenshot(path=str(shot_path(tmp_path, "dashboard.png")))
        for seen in (seen1, seen2, seen_phone):
            assert seen["dialogs"] == []
            assert seen["errors"] == []
        await staff.close()
        await phone_ctx.close()


async def test_wrong_password_is_throttled_in_the_page(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=4) as c:
        page = await browser.new_page()
        await page.goto(f"{c.base}/staff/login")
        await page.fill("#username", "nurse1")
        for _ in range(6):
            await page.fill("#password", "wrong password")
            async with page.expect_response("**/auth/login") as r:
                await page.click("#login-submit")
            assert (await r.value).status == 401
        assert "맞지 않습니다" in (await page.locator("#login-error").text_content() or "")
        await page.fill("#password", PASSWORDS["nurse1"])  # right password, still locked
        async with page.expect_response("**/auth/login") as r:
            await page.click("#login-submit")
        assert (await r.value).status == 429
        text = await page.locator("#login-error").text_content() or ""
        assert "너무 많습니다" in text
        assert page.url == f"{c.base}/staff/login"


async def test_hostile_patient_name_renders_as_text(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=8) as c:
        data = c.sample.data
        c.engine.load(
            data.model_copy(
                update={
                    "patients": [
                        data.patients[0].model_copy(update={"name": XSS}),
                        *data.patients[1:],
                    ]
                }
            )
        )
        visit = next(
            v for v in data.visits if v.registration_no == data.patients[0].registration_no
        )
        assert visit.visit_id is not None
        result = c.engine.check_in(visit.visit_id, actor="reception")
        room = result.visit.room_id
        assert room is not None
        c.publisher.submit(result.changes)
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        seen = watch(page)
        await staff_login(page, c, rooms=room)
        name = page.locator(f"[data-visit='{visit.visit_id}'] .name")
        await expect(name).to_have_text(XSS)  # masked first, the full name once loaded
        assert await page.locator(".board img").count() == 0
        await name.click()
        await page.wait_for_selector("#drawer:not([hidden]) [data-testid='patient-name']")
        assert await page.locator("[data-testid='patient-name']").text_content() == XSS
        await page.click("[data-tab='search']")
        await page.fill("#search-q", "onerror")
        await page.click("#search-form button")
        cell = page.locator(f"#search-results tr[data-visit='{visit.visit_id}'] td").nth(1)
        await cell.wait_for()
        assert await cell.text_content() == XSS
        assert await page.locator("#search-results img, #drawer img").count() == 0
        assert seen["dialogs"] == []
        assert seen["errors"] == []


async def access_token(ctx: Any) -> str | None:
    return next((ck["value"] for ck in await ctx.cookies() if ck["name"] == "nfch_at"), None)


async def test_expired_access_token_is_refreshed_silently(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=30, access_ttl_s=2) as c:
        room, line = queue_in_one_room(c.engine, 2)
        ctx = await browser.new_context(viewport={"width": 1440, "height": 900})
        page = await ctx.new_page()
        seen = watch(page)
        refreshes: list[int] = []
        page.on(
            "response",
            lambda r: refreshes.append(r.status) if r.url.endswith("/auth/refresh") else None,
        )
        await staff_login(page, c, rooms=room)
        await page.wait_for_selector(f"[data-section='waiting'] [data-visit='{line[0]}']")
        navs = len(seen["navigations"])
        first = await access_token(ctx)

        # The browser drops the cookie at expiry; the page then refreshes when its next call
        # (or its WebSocket reconnect) gets a 401. Poll the cookie jar for up to 10 s.
        for _ in range(100):
            if await access_token(ctx) != first:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the first access token never expired")
        await page.click(f".board[data-room='{room}'] [data-op='call-next']")
        await page.wait_for_selector(
            f"[data-section='calling'] [data-visit='{line[0]}']", timeout=5000
        )
        assert 200 in refreshes
        assert len(seen["navigations"]) == navs  # never sent to the login page
        assert c.engine.visit(line[0]).queue_state == "CALLED"
        assert seen["errors"] == []


async def test_reused_refresh_token_logs_the_family_out(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=4, refresh_reuse_grace_s=0) as c:
        ctx = await browser.new_context()
        page = await ctx.new_page()
        await staff_login(page, c)
        old = next(ck["value"] for ck in await ctx.cookies() if ck["name"] == "nfch_rt")
        assert await page.evaluate("NFCH.refreshSession()") is True  # normal rotation
        jar = {ck["name"]: ck["value"] for ck in await ctx.cookies()}
        assert jar["nfch_rt"] != old
        # Someone replays the copy they stole of the old refresh token.
        async with aiohttp.ClientSession() as thief:
            r = await thief.post(
                f"{c.base}/auth/refresh",
                headers={
                    "Origin": c.base,
                    "X-CSRF-Token": jar["nfch_csrf"],
                    "Cookie": f"nfch_rt={old}",
                },
            )
            assert r.status == 401
            assert (await r.json())["error"]["reason"] == "refresh_reused"
        # The browser's own (newer) login is over too: it lands on the login page by itself.
        await page.wait_for_url(f"{c.base}/staff/login", timeout=10000)
        r2 = await page.request.get(f"{c.base}/api/v1/visits")
        assert r2.status == 401


async def test_phone_login_form(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=12) as c:
        patient = next(p for p in c.sample.data.patients if p.phone_last4 and p.birth_date)
        visit = next(
            v for v in c.sample.data.visits if v.registration_no == patient.registration_no
        )
        assert patient.birth_date is not None
        assert patient.phone_last4 is not None
        ctx = await browser.new_context(viewport={"width": 412, "height": 915}, is_mobile=True)
        page = await ctx.new_page()
        seen = watch(page)
        await page.goto(f"{c.base}/p")
        await page.fill("#p-last4", "0000" if patient.phone_last4 != "0000" else "1111")
        await page.fill("#p-birth", patient.birth_date.strftime("%Y%m%d"))
        await page.click("#p-login-form button")
        await page.wait_for_selector("#p-login-error:not([hidden])")
        await page.fill("#p-last4", patient.phone_last4)
        await page.click("#p-login-form button")
        await page.wait_for_url(f"{c.base}/p/v/{visit.visit_id}")
        await page.wait_for_selector("#p-view:not([hidden])")
        total = len(visit.steps)
        assert await page.locator("#p-steps li").count() == total
        assert f"{total}단계 중 0단계 완료" == await page.locator("#p-progress").text_content()
        assert seen["errors"] == []


async def test_screenshots_of_a_busy_morning(tmp_path: Path, browser: Any) -> None:
    """A realistic state for docs/screenshots: three busy rooms, calls, exams, a hold."""
    async with web_central(tmp_path, patients=60) as c:
        e = c.engine
        for v in e.visits(limit=1000):
            e.check_in(v.visit_id, actor="reception")
        by_room: dict[str, int] = {}
        for v in e.visits(limit=1000):
            if v.room_id:
                by_room[v.room_id] = by_room.get(v.room_id, 0) + 1
        rooms = sorted(by_room, key=lambda r: -by_room[r])[:3]
        for i, room in enumerate(rooms):
            e.start(e.call_next(room, actor="nurse1").visit.visit_id, actor="nurse1")
            if i != 1:  # room 1's desk stays free: the phone part calls someone there
                e.call_next(room, actor="nurse1")
            if i == 0:
                waiting = e.visits(room_id=room)
                held = next(v for v in waiting if v.queue_state == "WAITING")
                e.hold(held.visit_id, actor="nurse1")
        await c.publisher.mark_all()
        staff = await browser.new_context(viewport={"width": 1600, "height": 1000}, locale="ko-KR")
        page = await staff.new_page()
        seen = watch(page)
        await staff_login(page, c, rooms=",".join(rooms))
        called = page.locator(f".board[data-room='{rooms[0]}'] [data-section='calling'] .name")
        await expect(called).not_to_contain_text("*")
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard.png")))
        await called.click()
        await page.wait_for_selector("#drawer:not([hidden]) .timeline li")
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-patient.png")))
        await page.click("#lang-toggle")
        await expect(page.locator(".btn-call").first).to_have_text("Call next")
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-en.png")))
        await page.click("#lang-toggle")

        near = next(v for v in e.visits(room_id=rooms[1]) if v.queue_state == "WAITING")
        phone_ctx = await browser.new_context(
            viewport={"width": 412, "height": 915}, is_mobile=True, locale="ko-KR"
        )
        phone = await phone_ctx.new_page()
        seen_phone = watch(phone)
        token, _ = c.auth.make_link(near.visit_id)
        await phone.goto(f"{c.base}/p/v/{near.visit_id}?t={token}")
        await phone.wait_for_selector("body[data-live='1']")
        await phone.wait_for_function("document.getElementById('p-route').complete")
        await phone.screenshot(path=str(shot_path(tmp_path, "phone-page.png")), full_page=True)
        await page.click(
            f".board[data-room='{rooms[1]}'] [data-section='waiting'] "
            f"[data-visit='{near.visit_id}'] [data-op='call']"
        )
        await phone.wait_for_selector("#p-alert.called")
        await phone.click("[data-lang='en']")
        await phone.screenshot(path=str(shot_path(tmp_path, "phone-page-called-en.png")))
        # The technician's and the admin's views.
        now = datetime.now(UTC)
        for i, st in enumerate(e.stations()[:6]):
            c.fleet.update(
                StationStatus(
                    station_id=st.station_id,
                    online=i != 2,
                    sent_at=now - timedelta(seconds=3 + 40 * (i == 2)),
                    software_version="0.1.0",
                    outbox_depth=[0, 1, 17, 0, 0, 0][i],
                    oldest_unsent_age_s=[None, 0.8, 95.0, None, None, None][i],
                    readers=[
                        ReaderHealth(
                            name="front",
                            driver="pcsc" if i % 2 else "nfcpy",
                            status="disconnected" if i == 3 else "ok",
                        )
                    ],
                    clock_offset_ms=[-12, 40, 1800, -230, 5, 8][i],
                ),
                now - timedelta(seconds=2 + 60 * (i == 2)),
            )
        admin_ctx = await browser.new_context(viewport={"width": 1600, "height": 800})
        admin = await admin_ctx.new_page()
        seen_admin = watch(admin)
        await staff_login(admin, c, "admin1")
        await admin.click("[data-tab='fleet']")
        await admin.wait_for_selector("#fleet tbody tr[data-station]")
        await admin.screenshot(path=str(shot_path(tmp_path, "dashboard-fleet.png")))
        await admin.click("[data-tab='admin']")
        await admin.wait_for_selector("#users tbody tr[data-user='nurse1']")
        await admin.screenshot(path=str(shot_path(tmp_path, "dashboard-staff-accounts.png")))
        login = await browser.new_page(viewport={"width": 412, "height": 915})
        await login.goto(f"{c.base}/p")
        await login.screenshot(path=str(shot_path(tmp_path, "phone-login.png")))
        await login.goto(f"{c.base}/staff/login")
        await login.set_viewport_size({"width": 1280, "height": 800})
        await login.screenshot(path=str(shot_path(tmp_path, "staff-login.png")))
        for s in (seen, seen_phone, seen_admin):
            assert s["dialogs"] == []
            assert s["errors"] == []


async def test_the_central_runner_serves_it_all(
    tmp_path: Path, browser: Any, broker: Any, topic_root: str
) -> None:
    """`Central` itself (HTTP + MQTT bridge on a private Mosquitto): a nurse calls the next
    patient; the patient's phone (logged in with phone digits) and a second tab see it."""
    from central.auth.service import AuthService
    from central.auth.tokens import derive_key
    from central.web.config import WebConfig
    from tests.support.central_harness import central_config, running_central, seeded_engine
    from tests.support.web_central import SAMPLE_MAP

    config = central_config(tmp_path, broker.port, topic_root)
    config = config.model_copy(update={"web": WebConfig(map_file=SAMPLE_MAP)})
    engine, sample = await asyncio.to_thread(seeded_engine, config, 30)
    auth = AuthService(engine.db, config.auth, derive_key(engine.site_key, "jwt"))
    await asyncio.to_thread(auth.add_user, "nurse1", "김간호", "nurse", PASSWORDS["nurse1"])
    # The first in line must be someone the phone login can find unambiguously.
    phones = [(p.phone_last4, p.birth_date) for p in sample.data.patients]
    patient = next(
        p
        for p in sample.data.patients
        if p.phone_last4 and phones.count((p.phone_last4, p.birth_date)) == 1
    )
    visit = next(v for v in sample.data.visits if v.registration_no == patient.registration_no)
    assert visit.visit_id is not None
    first = await asyncio.to_thread(engine.check_in, visit.visit_id, actor="reception")
    room = first.visit.room_id
    assert room is not None
    assert patient.birth_date is not None
    assert patient.phone_last4 is not None
    async with running_central(config, engine) as central:
        base = f"http://127.0.0.1:{central.http_port}"
        c = _Base(base)
        staff = await browser.new_context(viewport={"width": 1440, "height": 900})
        tab1 = await staff.new_page()
        await staff_login(tab1, c, rooms=room)
        tab2 = await staff.new_page()
        seen2 = watch(tab2)
        await tab2.goto(f"{base}/staff?rooms={room}")
        await tab2.wait_for_selector(f"[data-section='waiting'] [data-visit='{visit.visit_id}']")

        phone = await (await browser.new_context(viewport={"width": 412, "height": 915})).new_page()
        seen_phone = watch(phone)
        await phone.goto(f"{base}/p")
        await phone.fill("#p-last4", patient.phone_last4)
        await phone.fill("#p-birth", patient.birth_date.strftime("%Y%m%d"))
        await phone.click("#p-login-form button")
        await phone.wait_for_url(f"{base}/p/v/{visit.visit_id}")
        await phone.wait_for_selector("body[data-live='1']")
        navs = (len(seen2["navigations"]), len(seen_phone["navigations"]))

        await tab1.click(f".board[data-room='{room}'] [data-op='call-next']")
        started = time.monotonic()
        await tab2.wait_for_selector(
            f"[data-section='calling'] [data-visit='{visit.visit_id}']", timeout=1000
        )
        await phone.wait_for_selector("#p-alert.called", timeout=1000)
        assert time.monotonic() - started < 1.0
        assert (len(seen2["navigations"]), len(seen_phone["navigations"])) == navs
        assert seen2["errors"] == []
        assert seen_phone["errors"] == []
        await staff.close()


class _Base:
    """What `staff_login` needs of a server: its base URL."""

    def __init__(self, base: str) -> None:
        self.base = base


def simulate_morning(engine: Engine, clock: Any, rng: random.Random, minutes: int) -> None:
    """Drive the engine through a morning in 1-minute steps: arrivals, calls, exams, the odd
    no-show, so analytics have real waits and service times to show."""
    arrivals = [v.visit_id for v in engine.visits(limit=1000)]
    rng.shuffle(arrivals)
    service_end: dict[str, Any] = {}
    for minute in range(minutes):
        clock.advance(minutes=1)
        if arrivals and rng.random() < 0.55:
            engine.check_in(arrivals.pop(), actor="reception")
        for room in engine.room_ids():
            snap = engine.room_snapshot(room)
            for e in snap.ongoing:
                if clock.now() >= service_end.get(e.visit_id, clock.now()):
                    engine.complete(e.visit_id, actor="nurse1")
            for e in snap.now_calling:
                if rng.random() < 0.06:
                    engine.no_show(e.visit_id, actor="nurse1")
                else:
                    engine.start(e.visit_id, actor="nurse1")
                    service_end[e.visit_id] = clock.now() + timedelta(minutes=rng.randint(5, 16))
            busy = engine.room_snapshot(room)
            if not busy.now_calling and len(busy.ongoing) < 1 and busy.waiting:
                engine.call_next(room, actor="nurse1")
        del minute


async def test_analytics_of_a_simulated_morning(tmp_path: Path, browser: Any) -> None:
    from zoneinfo import ZoneInfo

    from central.clock import FakeClock

    seoul = ZoneInfo("Asia/Seoul")
    day = datetime.now(seoul).date()
    clock = FakeClock(datetime.combine(day, dtime(8, 30), seoul))
    async with web_central(tmp_path, patients=110, clock=clock) as c:
        await asyncio.to_thread(simulate_morning, c.engine, clock, random.Random(7), 240)
        await c.publisher.mark_all()
        ctx = await browser.new_context(viewport={"width": 1600, "height": 1000})
        page = await ctx.new_page()
        seen = watch(page)
        await staff_login(page, c)
        await page.click("[data-tab='analytics']")
        await page.wait_for_selector("#an-rooms tbody tr[data-room]")
        assert await page.locator("#an-hours svg rect").count() >= 3
        done = await page.locator(".an-card .v").first.text_content()
        assert done is not None
        assert int(done) > 10
        async with page.expect_download() as dl:
            await page.click("#an-csv")
        csv_path = tmp_path / "rooms.csv"
        await (await dl.value).save_as(str(csv_path))
        assert csv_path.read_text().startswith("service_day,room_id,")
        await page.screenshot(path=str(shot_path(tmp_path, "dashboard-analytics.png")))
        assert seen["dialogs"] == []
        assert seen["errors"] == []


async def test_technicians_see_boards_without_names_or_buttons(
    tmp_path: Path, browser: Any
) -> None:
    async with web_central(tmp_path, patients=30) as c:
        room, line = queue_in_one_room(c.engine, 2)
        page = await browser.new_page()
        seen = watch(page)
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url))
        await staff_login(page, c, "tech1", rooms=room)
        row = page.locator(f"[data-section='waiting'] [data-visit='{line[0]}']")
        await row.wait_for()
        # A later change of the room (a nurse calls) re-renders the board: still masked.
        c.publisher.submit(c.engine.call_next(room, actor="nurse1").changes)
        called = page.locator(f"[data-section='calling'] [data-visit='{line[0]}'] .name")
        await expect(called).to_have_text(c.engine.visit(line[0]).masked_name)
        assert not [u for u in asked if "/api/v1/visits" in u]
        assert await page.locator("[data-op]").count() == 0
        assert await page.locator("[data-tab='search']").is_hidden()
        assert await page.locator("[data-tab='fleet']").is_visible()
        assert seen["errors"] == []


async def test_a_department_click_shows_all_its_rooms(tmp_path: Path, browser: Any) -> None:
    async with web_central(tmp_path, patients=4) as c:
        rooms = c.engine.directory_rooms().rooms
        dept = rooms[0].department_id
        ids = sorted(r.room_id for r in rooms if r.department_id == dept)
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        seen = watch(page)
        await staff_login(page, c, rooms=rooms[-1].room_id)
        await page.locator(".dept-name").first.click()
        boards = page.locator(".board")
        await expect(boards).to_have_count(len(ids) + 1)
        shown = sorted(await boards.evaluate_all("bs => bs.map(b => b.dataset.room)"))
        assert shown == sorted([*ids, rooms[-1].room_id])
        await page.locator(".dept-name").first.click()
        await expect(boards).to_have_count(1)
        assert seen["errors"] == []
