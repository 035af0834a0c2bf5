"""Auth over HTTP against a real server on 127.0.0.1 (engine, API routes, auth, pages):
role checks on every staff route, CSRF, CSP and headers, cookies, refresh rotation and
reuse, WebSocket token and Origin checks, phone-page isolation and throttles."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from central.api.routes import REGISTRY
from central.auth.http import CSP
from central.web.config import WebConfig
from central.web.pages import esc, phone_page, staff_dashboard
from tests.support.web_central import PASSWORDS, WebCentral, web_central

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[WebCentral]:
    async with web_central(tmp_path, patients=12) as c:
        yield c


def session_for(c: WebCentral) -> aiohttp.ClientSession:
    # Browsers keep Secure cookies for http://127.0.0.1 (a secure context); so does this jar.
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[c.base])
    return aiohttp.ClientSession(base_url=c.base, cookie_jar=jar)


async def login(s: aiohttp.ClientSession, c: WebCentral, user: str = "nurse1") -> dict[str, Any]:
    r = await s.post(
        "/auth/login",
        json={"username": user, "password": PASSWORDS[user]},
        headers={"Origin": c.base},
    )
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


def csrf(s: aiohttp.ClientSession) -> str:
    for cookie in s.cookie_jar:
        if cookie.key == "nfch_csrf":
            return cookie.value
    raise AssertionError("no CSRF cookie")


def waiting_visit(c: WebCentral) -> tuple[str, str]:
    """Check in one visit; returns (visit_id, room_id)."""
    v = c.engine.visits(limit=1)[0]
    r = c.engine.check_in(v.visit_id, actor="test")
    assert r.visit.room_id is not None
    return v.visit_id, r.visit.room_id


# ------------------------------------------------------------------ headers and pages


async def test_security_headers_on_pages_static_and_errors(central: WebCentral) -> None:
    async with session_for(central) as s:
        for path in ("/staff", "/staff/login", "/p", "/static/staff.js", "/api/v1/visits", "/nope"):
            r = await s.get(path)
            assert r.headers["Content-Security-Policy"] == CSP, path
            assert "script-src 'self'" in CSP
            assert "unsafe-inline" not in CSP
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert r.headers["Referrer-Policy"] == "no-referrer"
        html = await (await s.get("/staff")).text()
        assert "<script>" not in html  # no inline script; scripts come from /static only
        assert ' style="' not in html


def test_server_rendered_text_is_escaped() -> None:
    cfg = WebConfig(site_name_ko=XSS, site_name_en=XSS)
    for html in (staff_dashboard(cfg), phone_page(cfg, "v1")):
        assert XSS not in html
        assert esc(XSS) in html
    assert esc('"><script>') == "&quot;&gt;&lt;script&gt;"


# ------------------------------------------------------------------ login, cookies, roles


async def test_login_sets_hardened_cookies(central: WebCentral) -> None:
    async with session_for(central) as s:
        r = await s.post(
            "/auth/login",
            json={"username": "nurse1", "password": PASSWORDS["nurse1"]},
            headers={"Origin": central.base},
        )
        assert r.status == 200
        cookies: dict[str, Any] = {}
        for header in r.headers.getall("Set-Cookie"):
            cookies.update(SimpleCookie(header))
        for name in ("nfch_at", "nfch_rt", "nfch_dev"):
            assert cookies[name]["httponly"], name
        for name in ("nfch_at", "nfch_rt", "nfch_csrf", "nfch_dev"):
            assert cookies[name]["secure"], name
            assert cookies[name]["samesite"] == "Strict", name
        assert not cookies["nfch_csrf"]["httponly"]  # the page echoes it in a header
        assert cookies["nfch_rt"]["path"] == "/auth"
        assert int(cookies["nfch_at"]["max-age"]) <= 900
        me = await (await s.get("/auth/me")).json()
        assert (me["username"], me["role"]) == ("nurse1", "nurse")
        assert "queue.operate" in me["actions"]


async def test_login_from_a_foreign_origin_is_refused(central: WebCentral) -> None:
    async with session_for(central) as s:
        r = await s.post(
            "/auth/login",
            json={"username": "nurse1", "password": PASSWORDS["nurse1"]},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status == 403
        assert (await r.json())["error"]["reason"] == "csrf_rejected"


async def test_every_staff_route_needs_a_token(central: WebCentral) -> None:
    staff_routes = [r for r in REGISTRY.routes if r.roles]
    assert len(staff_routes) >= 15
    async with session_for(central) as s:
        for route in staff_routes:
            path = route.path.replace("{visit_id}", "v-x").replace("{room_id}", "lab-1")
            # Any other path parameter gets a well-formed id, so the router matches the route
            # and the 401 comes from the auth check, not from a 404 on a malformed segment.
            path = re.sub(r"\{[a-z_]+\}", "x-1", path)
            r = await s.request(route.method, path, json={}, headers={"Origin": central.base})
            assert r.status == 401, (route.method, path, r.status)
        for path in ("/staff/api/search?q=1",):
            assert (await s.get(path)).status == 401


async def test_roles_are_enforced(central: WebCentral) -> None:
    visit_id, room_id = waiting_visit(central)
    async with session_for(central) as tech:
        await login(tech, central, "tech1")
        h = {"Origin": central.base, "X-CSRF-Token": csrf(tech)}
        r = await tech.post(f"/api/v1/rooms/{room_id}/call-next", json={}, headers=h)
        assert r.status == 403
        assert (await r.json())["error"]["reason"] == "forbidden"
        assert (await tech.get("/staff/api/search?q=1")).status == 403
        assert (await tech.get("/api/v1/stations")).status == 200
    async with session_for(central) as nurse:
        await login(nurse, central)
        assert (await nurse.get("/api/v1/stations")).status == 403
        h = {"Origin": central.base, "X-CSRF-Token": csrf(nurse)}
        r = await nurse.post(f"/api/v1/rooms/{room_id}/call-next", json={}, headers=h)
        assert r.status == 200, await r.text()
        assert (await r.json())["visit"]["visit_id"] == visit_id


async def test_csrf_is_required_for_cookie_state_changes(central: WebCentral) -> None:
    _visit_id, room_id = waiting_visit(central)
    path = f"/api/v1/rooms/{room_id}/call-next"
    async with session_for(central) as s:
        session = await login(s, central)
        r = await s.post(path, json={}, headers={"Origin": central.base})
        assert r.status == 403
        assert (await r.json())["error"]["reason"] == "csrf_rejected"
        r = await s.post(path, json={}, headers={"Origin": central.base, "X-CSRF-Token": "f" * 40})
        assert r.status == 403
        r = await s.post(
            path, json={}, headers={"Origin": "https://evil.example", "X-CSRF-Token": csrf(s)}
        )
        assert r.status == 403
        r = await s.post(path, json={}, headers={"X-CSRF-Token": csrf(s)})  # no Origin at all
        assert r.status == 403
        assert session["csrf"] == csrf(s)
        # Reads need no token; a bearer token (not sent by browsers on their own) needs none.
        assert (await s.get("/api/v1/visits")).status == 200
        access = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_at")
    async with aiohttp.ClientSession(base_url=central.base) as api:
        r = await api.post(path, json={}, headers={"Authorization": f"Bearer {access}"})
        assert r.status == 200, await r.text()


async def test_wrong_password_is_throttled_with_retry_after(central: WebCentral) -> None:
    async with session_for(central) as s:
        statuses = []
        for _ in range(7):
            r = await s.post(
                "/auth/login",
                json={"username": "nurse1", "password": "wrong"},
                headers={"Origin": central.base},
            )
            statuses.append(r.status)
        assert statuses[:6] == [401] * 6
        assert statuses[6] == 429
        assert int(r.headers["Retry-After"]) >= 1
        assert (await r.json())["error"]["reason"] == "throttled"


# ------------------------------------------------------------------ refresh


async def test_refresh_rotation_and_reuse_over_http(central: WebCentral) -> None:
    async with session_for(central) as s:
        await login(s, central)
        old = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_rt")
        h = {"Origin": central.base, "X-CSRF-Token": csrf(s)}
        r = await s.post("/auth/refresh", headers=h)
        assert r.status == 200, await r.text()
        new = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_rt")
        assert new != old
        assert (await s.post("/auth/refresh", headers={"Origin": central.base})).status == 403
        central.auth.clock = _Later(central.auth.clock, 10)  # past the two-tab grace
        async with aiohttp.ClientSession(base_url=central.base) as thief:
            r = await thief.post("/auth/refresh", headers={**h, "Cookie": f"nfch_rt={old}"})
            assert r.status == 401
            assert (await r.json())["error"]["reason"] == "refresh_reused"
        # The legitimate holder is logged out too: the whole family is revoked.
        r = await s.get("/api/v1/visits")
        assert r.status == 401
        assert (await r.json())["error"]["reason"] == "token_revoked"
        assert (await s.post("/auth/refresh", headers=h)).status == 401


class _Later:
    """The real clock, `s` seconds ahead."""

    def __init__(self, inner: Any, s: float) -> None:
        self.inner, self.s = inner, s

    def now(self) -> Any:
        from datetime import timedelta

        return self.inner.now() + timedelta(seconds=self.s)


async def test_logout_ends_the_session(central: WebCentral) -> None:
    async with session_for(central) as s:
        await login(s, central)
        access = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_at")
        r = await s.post("/auth/logout", headers={"Origin": central.base, "X-CSRF-Token": csrf(s)})
        assert r.status == 200
    async with aiohttp.ClientSession(base_url=central.base) as api:
        r = await api.get("/api/v1/visits", headers={"Authorization": f"Bearer {access}"})
        assert r.status == 401


# ------------------------------------------------------------------ WebSocket


async def test_websocket_checks_token_and_origin(central: WebCentral) -> None:
    async with session_for(central) as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as no_token:
            await s.ws_connect("/api/v1/ws", origin=central.base)
        assert no_token.value.status == 401
        await login(s, central)
        with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
            await s.ws_connect("/api/v1/ws", origin="https://evil.example")
        assert foreign.value.status == 403
        ws = await s.ws_connect("/api/v1/ws", origin=central.base)
        await ws.send_json({"op": "subscribe", "streams": {"room:lab-1": None}})
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        assert (frame["stream"], frame["type"]) == ("room:lab-1", "reset")
        # Logging out (revocation) closes the open socket within the cache TTL.
        await s.post("/auth/logout", headers={"Origin": central.base, "X-CSRF-Token": csrf(s)})
        ended = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

        async def until_closed() -> None:
            while (await ws.receive()).type not in ended:
                pass

        await asyncio.wait_for(until_closed(), 10)
        await ws.close()


# ------------------------------------------------------------------ phone page


async def test_phone_page_is_scoped_to_one_visit(central: WebCentral) -> None:
    v1, v2 = (v.visit_id for v in central.engine.visits(limit=2))
    token, _ = central.auth.make_link(v1)
    async with session_for(central) as phone:
        r = await phone.get(f"/p/v/{v1}?t={token}", allow_redirects=False)
        assert r.status == 303
        assert r.headers["Location"] == f"/p/v/{v1}"  # the token leaves the address bar
        cookie = SimpleCookie(r.headers["Set-Cookie"])["nfch_p"]
        assert cookie["path"] == f"/p/v/{v1}"
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        r = await phone.get(f"/p/v/{v1}/api/status")
        assert r.status == 200
        doc = await r.json()
        assert doc["visit_id"] == v1
        assert "patient_name" not in doc  # masked name only, even to the patient's own phone
        assert (await phone.get(f"/p/v/{v2}/api/status")).status == 401
        # Sending v1's token to v2's address does not help either.
        stolen = cookie.value
        r = await phone.get(f"/p/v/{v2}/api/status", headers={"Cookie": f"nfch_p={stolen}"})
        assert r.status == 401
        # A patient token is not a staff token.
        r = await phone.get("/api/v1/visits", headers={"Authorization": f"Bearer {stolen}"})
        assert r.status == 401
    async with session_for(central) as again:  # the link was one-time
        await again.get(f"/p/v/{v1}?t={token}")
        assert (await again.get(f"/p/v/{v1}/api/status")).status == 401
    async with session_for(central) as anyone:  # the visit id alone opens nothing
        assert (await anyone.get(f"/p/v/{v1}/api/status")).status == 401
        assert (await anyone.get(f"/p/v/{v1}/route.svg")).status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await anyone.ws_connect(f"/p/v/{v1}/ws", origin=central.base)


async def test_phone_login_and_its_throttle(central: WebCentral) -> None:
    patient = next(p for p in central.sample.data.patients if p.phone_last4 and p.birth_date)
    visit = next(
        v for v in central.sample.data.visits if v.registration_no == patient.registration_no
    )
    assert patient.birth_date is not None
    birth = patient.birth_date.strftime("%Y%m%d")
    async with session_for(central) as s:
        h = {"Origin": central.base}
        r = await s.post("/p/login", json={"last4": patient.phone_last4, "birth": birth}, headers=h)
        assert r.status == 200, await r.text()
        assert (await r.json())["url"] == f"/p/v/{visit.visit_id}"
        assert (await s.get(f"/p/v/{visit.visit_id}/api/status")).status == 200
        statuses = []
        for i in range(5):
            r = await s.post("/p/login", json={"last4": f"{i:04d}", "birth": "19000101"}, headers=h)
            statuses.append(r.status)
        assert statuses[:3] == [401, 401, 401]
        assert statuses[3] == 401  # the 4th failure locks this address for a minute
        assert statuses[4] == 429
        assert int(r.headers["Retry-After"]) >= 30
        bad = await s.post("/p/login", json={"last4": "12", "birth": birth}, headers=h)
        assert bad.status == 422


async def test_phone_feed_pushes_the_patients_own_status(central: WebCentral) -> None:
    visit_id, room_id = waiting_visit(central)
    token, _ = central.auth.make_link(visit_id)
    async with session_for(central) as phone:
        await phone.get(f"/p/v/{visit_id}?t={token}")
        with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
            await phone.ws_connect(f"/p/v/{visit_id}/ws", origin="https://evil.example")
        assert foreign.value.status == 403
        ws = await phone.ws_connect(f"/p/v/{visit_id}/ws", origin=central.base)
        first = await asyncio.wait_for(ws.receive_json(), 5)
        assert (first["queue_state"], first["room"]["room_id"]) == ("WAITING", room_id)
        result = await asyncio.to_thread(central.engine.call_next, room_id, actor="nurse1")
        central.publisher.submit(result.changes)

        async def until_called() -> dict[str, Any]:
            while True:  # a status may come first (the feed re-sends on any room change)
                doc: dict[str, Any] = await ws.receive_json()
                if doc["queue_state"] == "CALLED":
                    return doc

        called = await asyncio.wait_for(until_called(), 5)
        assert set(called) >= {"ticket_number", "steps", "steps_done", "steps_total", "near"}
        await ws.close()


async def test_staff_search_finds_ticket_name_and_registration(tmp_path: Path) -> None:
    async with web_central(tmp_path, patients=8) as c:
        data = c.sample.data
        renamed = data.patients[0].model_copy(update={"name": XSS})
        c.engine.load(data.model_copy(update={"patients": [renamed, *data.patients[1:]]}))
        v = next(x for x in data.visits if x.registration_no == renamed.registration_no)
        assert v.visit_id is not None
        ticket = c.engine.check_in(v.visit_id, actor="t").visit.ticket_number
        async with session_for(c) as s:
            await login(s, c)
            for q in (renamed.registration_no, "onerror", str(ticket)):
                r = await s.get("/staff/api/search", params={"q": q})
                assert r.status == 200
                items = (await r.json())["items"]
                assert v.visit_id in [i["visit_id"] for i in items], q
            hit = next(i for i in items if i["visit_id"] == v.visit_id)
            assert hit["patient_name"] == XSS  # data stays data; the page renders it as text
            assert (await s.get("/staff/api/search", params={"q": ""})).status == 422


async def test_admin_manages_staff_accounts(central: WebCentral) -> None:
    async with session_for(central) as nurse:
        await login(nurse, central)
        assert (await nurse.get("/staff/api/users")).status == 403
        h = {"Origin": central.base, "X-CSRF-Token": csrf(nurse)}
        body = {"username": "x1", "name": "x", "role": "admin", "password": "0123456789"}
        assert (await nurse.post("/staff/api/users", json=body, headers=h)).status == 403
    async with session_for(central) as admin:
        me = await login(admin, central, "admin1")
        h = {"Origin": central.base, "X-CSRF-Token": csrf(admin)}
        new = {
            "username": "reception2",
            "name": XSS,
            "role": "reception",
            "password": "pw-0123456789",
        }
        assert (
            await admin.post("/staff/api/users", json=new, headers={"Origin": central.base})
        ).status == 403
        r = await admin.post("/staff/api/users", json=new, headers=h)
        assert r.status == 201, await r.text()
        made = await r.json()
        assert "password" not in made
        assert "password_hash" not in str(await (await admin.get("/staff/api/users")).json())
        assert (await admin.post("/staff/api/users", json=new, headers=h)).status == 409
        short = {**new, "username": "r3", "password": "short"}
        assert (await admin.post("/staff/api/users", json=short, headers=h)).status == 422
        own = await admin.post(f"/staff/api/users/{me['user_id']}/disable", headers=h)
        assert own.status == 422
        async with session_for(central) as rec:
            r = await rec.post(
                "/auth/login",
                json={"username": "reception2", "password": "pw-0123456789"},
                headers={"Origin": central.base},
            )
            assert r.status == 200
            assert (await rec.get("/api/v1/visits")).status == 200
            r = await admin.post(f"/staff/api/users/{made['user_id']}/disable", headers=h)
            assert (await r.json())["active"] is False
            r = await rec.get("/api/v1/visits")
            assert r.status == 401
            assert (await r.json())["error"]["reason"] == "token_revoked"


async def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    bad = {"username": "nurse1", "password": "wrong"}
    good = {"username": "nurse1", "password": PASSWORDS["nurse1"]}
    async with web_central(tmp_path / "a", patients=2) as c, session_for(c) as s:
        # Not behind a proxy: a forged header does not dodge the per-address lock.
        for i in range(6):
            h = {"Origin": c.base, "X-Forwarded-For": f"203.0.113.{i}"}
            assert (await s.post("/auth/login", json=bad, headers=h)).status == 401
        h = {"Origin": c.base, "X-Forwarded-For": "203.0.113.99"}
        assert (await s.post("/auth/login", json=good, headers=h)).status == 429
    async with (
        web_central(tmp_path / "b", patients=2, trusted_proxies=["127.0.0.1"]) as c,
        session_for(c) as s,
    ):
        for _ in range(6):
            h = {"Origin": c.base, "X-Forwarded-For": "198.51.100.7, 203.0.113.1"}
            assert (await s.post("/auth/login", json=bad, headers=h)).status == 401
        h = {"Origin": c.base, "X-Forwarded-For": "203.0.113.1"}
        assert (await s.post("/auth/login", json=good, headers=h)).status == 429
        h = {"Origin": c.base, "X-Forwarded-For": "203.0.113.2"}  # another client, same proxy
        assert (await s.post("/auth/login", json=good, headers=h)).status == 200


async def test_analytics_roles_and_csv(central: WebCentral) -> None:
    visit_id, room_id = waiting_visit(central)
    central.engine.call_next(room_id, actor="nurse1")
    central.engine.start(visit_id, actor="nurse1")
    central.engine.complete(visit_id, actor="nurse1")
    async with session_for(central) as tech:
        await login(tech, central, "tech1")
        assert (await tech.get("/staff/api/analytics")).status == 403
    async with session_for(central) as nurse:
        await login(nurse, central)
        doc = await (await nurse.get("/staff/api/analytics")).json()
        assert doc["totals"]["completed"] == 1
        assert room_id in [r["room_id"] for r in doc["rooms"]]
        r = await nurse.get("/staff/api/analytics.csv")
        assert r.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in r.headers["Content-Disposition"]
        lines = (await r.text()).splitlines()
        assert lines[0].startswith("service_day,room_id,completed,no_shows")
        assert any(f",{room_id},1," in line for line in lines[1:])


async def test_actor_of_names_the_logged_in_user(central: WebCentral) -> None:
    from aiohttp.test_utils import make_mocked_request

    from central.auth.http import AUTH_KEY, actor_of, staff_claims

    async with session_for(central) as s:
        await login(s, central)
        access = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_at")
    app = aiohttp.web.Application()
    app[AUTH_KEY] = central.auth
    req = make_mocked_request("GET", "/", headers={"Authorization": f"Bearer {access}"}, app=app)
    assert actor_of(req) is None
    await staff_claims(req)
    assert actor_of(req) == "nurse1"


async def test_bad_login_bodies_are_named_and_counted(central: WebCentral) -> None:
    from central.metrics import BAD_INPUT

    def count(reason: str) -> float:
        return BAD_INPUT.labels(source="http", reason=reason)._value.get()

    before = (count("not_json"), count("invalid_input"))
    async with session_for(central) as s:
        h = {"Origin": central.base, "Content-Type": "application/json"}
        r = await s.post("/auth/login", data=b"{not json", headers=h)
        assert r.status == 400
        assert (await r.json())["error"]["reason"] == "not_json"
        r = await s.post(
            "/auth/login", json={"username": "nurse1"}, headers={"Origin": central.base}
        )
        assert r.status == 422
        assert (await r.json())["error"]["where"] == "body.password"
        r = await s.post("/p/login", json={"last4": "12ab", "birth": "19500101"}, headers=h)
        assert r.status == 422
        assert (await r.json())["error"]["where"] == "body.last4"
    assert count("not_json") == before[0] + 1
    assert count("invalid_input") == before[1] + 2
