"""The audit actor is the logged-in user, never the body's `actor`; technicians cannot read
patients (visits, audit) through the API but keep the fleet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.web_central import PASSWORDS, WebCentral, web_central


@pytest.fixture
async def c(tmp_path: Path) -> AsyncIterator[WebCentral]:
    async with web_central(tmp_path, patients=6) as c:
        yield c


async def bearer(c: WebCentral, user: str) -> dict[str, str]:
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[c.base])
    async with aiohttp.ClientSession(base_url=c.base, cookie_jar=jar) as s:
        r = await s.post(
            "/auth/login",
            json={"username": user, "password": PASSWORDS[user]},
            headers={"Origin": c.base},
        )
        assert r.status == 200, await r.text()
        access = next(ck.value for ck in s.cookie_jar if ck.key == "nfch_at")
    return {"Authorization": f"Bearer {access}"}


async def test_call_next_is_audited_under_the_token_user_not_the_body(c: WebCentral) -> None:
    v = c.engine.visits(limit=1)[0]
    room_id = c.engine.check_in(v.visit_id, actor="test").visit.room_id
    h = await bearer(c, "nurse1")
    async with aiohttp.ClientSession(base_url=c.base) as api:
        r = await api.post(
            f"/api/v1/rooms/{room_id}/call-next", json={"actor": "admin1"}, headers=h
        )
        assert r.status == 200, await r.text()
        r = await api.post(
            f"/api/v1/visits/{v.visit_id}/recall", json={"actor": "someone-else"}, headers=h
        )
        assert r.status == 200, await r.text()
    rows = c.engine.audit(visit_id=v.visit_id)
    actors = [(row.action, row.actor) for row in rows]
    assert [a for _s, a in actors[-3:]] == ["test", "nurse1", "nurse1"], actors
    assert all(a not in ("admin1", "someone-else") for _s, a in actors)


async def test_technicians_cannot_read_visits_or_audit_but_keep_the_fleet(c: WebCentral) -> None:
    visit_id = c.engine.visits(limit=1)[0].visit_id
    tech, nurse = await bearer(c, "tech1"), await bearer(c, "nurse1")
    async with aiohttp.ClientSession(base_url=c.base) as api:
        for path in ("/api/v1/visits", f"/api/v1/visits/{visit_id}", "/api/v1/audit"):
            r = await api.get(path, headers=tech)
            assert r.status == 403, path
            assert (await r.json())["error"]["reason"] == "forbidden"
            assert (await api.get(path, headers=nurse)).status == 200, path
        for path in ("/api/v1/stations", "/api/v1/events", "/api/v1/dead-letters", "/healthz"):
            assert (await api.get(path, headers=tech)).status == 200, path
