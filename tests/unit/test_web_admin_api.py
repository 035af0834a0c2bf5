"""The admin API the dashboard's admin pages use, over HTTP against a real server: service-day
settings (admin only, validated, audited, in the OpenAPI document), enrolment codes listed
without their secret and withdrawn, map places for the forms, and analytics of past days
with the CSV following the selection."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from central.api.routes import openapi_document
from central.clock import FakeClock
from central.enrolment import CodeInvalid
from central.seed import sample_hospital
from protocol.enrolment import EnrolRequest
from tests.support.web_central import PASSWORDS, WebCentral, web_central

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture
async def c(tmp_path: Path) -> AsyncIterator[WebCentral]:
    async with web_central(tmp_path, patients=8) as c:
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


# ------------------------------------------------------------------ settings


def test_settings_routes_are_in_the_openapi_document() -> None:
    paths = openapi_document()["paths"]
    ops = paths["/api/v1/admin/settings"]
    assert set(ops) >= {"get", "put"}
    assert ops["put"]["x-roles"] == ["admin"]
    assert "/api/v1/stations/enrolment-codes/{station_id}/revoke" in paths
    assert "get" in paths["/api/v1/stations/enrolment-codes"]


async def test_settings_are_for_admins_only_validated_and_audited(c: WebCentral) -> None:
    admin, nurse, tech = [await bearer(c, u) for u in ("admin1", "nurse1", "tech1")]
    async with aiohttp.ClientSession(base_url=c.base) as s:
        for h in (nurse, tech):
            assert (await s.get("/api/v1/admin/settings", headers=h)).status == 403
            r = await s.put("/api/v1/admin/settings", json={"missed_requeue_after": 1}, headers=h)
            assert r.status == 403
        r = await s.get("/api/v1/admin/settings", headers=admin)
        assert r.status == 200
        doc = await r.json()
        keys = [x["key"] for x in doc["settings"]]
        assert keys[0] == "day_starts_at"
        assert "timezone" not in keys
        assert doc["timezone"] == "Asia/Seoul"
        assert "restart" in doc["timezone_note"]["en"]
        # Out of range: the registry's validation, with where.
        r = await s.put("/api/v1/admin/settings", json={"no_show_after_calls": 0}, headers=admin)
        assert r.status == 422
        err = (await r.json())["error"]
        assert err["where"] == "body.no_show_after_calls"
        r = await s.put("/api/v1/admin/settings", json={"day_starts_at": "25:00"}, headers=admin)
        assert (r.status, (await r.json())["error"]["where"]) == (422, "body.day_starts_at")
        # Cross-field, and a key that does not exist.
        r = await s.put(
            "/api/v1/admin/settings",
            json={"missed_requeue_after": 1, "lease_low_water": 30},
            headers=admin,
        )
        assert r.status == 422
        err = (await r.json())["error"]
        assert (err["reason"], err["where"]) == ("settings_invalid", "body.lease_low_water")
        assert "nothing was changed" in err["message_en"]
        r = await s.put("/api/v1/admin/settings", json={"speed": 2}, headers=admin)
        assert (r.status, (await r.json())["error"]["where"]) == (422, "body.speed")
        assert c.engine.queue.missed_requeue_after == 3  # none of it applied
        r = await s.put("/api/v1/admin/settings", json={"missed_requeue_after": 1}, headers=admin)
        assert r.status == 200, await r.text()
        doc = await r.json()
    assert c.engine.queue.missed_requeue_after == 1
    (change,) = doc["changes"]
    assert (change["actor"], change["key"], change["before"], change["after"]) == (
        "admin1",
        "missed_requeue_after",
        3,
        1,
    )


# ------------------------------------------------------------------ enrolment codes


async def test_codes_are_listed_without_their_secret_and_can_be_withdrawn(c: WebCentral) -> None:
    admin, tech, nurse = [await bearer(c, u) for u in ("admin1", "tech1", "nurse1")]
    async with aiohttp.ClientSession(base_url=c.base) as s:
        r = await s.post(
            "/api/v1/stations/enrolment-codes",
            json={"name": "2층 내과 접수", "name_en": "2F desk", "location": "st-lobby"},
            headers=tech,
        )
        assert r.status == 200, await r.text()
        made = await r.json()
        code = made["code"]
        assert (await s.get("/api/v1/stations/enrolment-codes", headers=nurse)).status == 403
        r = await s.get("/api/v1/stations/enrolment-codes", headers=admin)
        text = await r.text()
        assert code not in text
        assert code.replace("-", "") not in text
        (row,) = (await r.json())["codes"]
        assert (row["station_id"], row["status"], row["created_by"], row["node_id"]) == (
            made["station_id"],
            "pending",
            "tech1",
            "st-lobby",
        )
        r = await s.post(
            f"/api/v1/stations/enrolment-codes/{made['station_id']}/revoke", headers=admin
        )
        assert r.status == 200
        (row,) = (await r.json())["codes"]
        assert row["status"] == "revoked"
        assert row["revoked_at"] is not None
        # Nothing pending any more: 404 with where.
        r = await s.post(
            f"/api/v1/stations/enrolment-codes/{made['station_id']}/revoke", headers=admin
        )
        assert (r.status, (await r.json())["error"]["where"]) == (404, "path.station_id")
    # The withdrawn code no longer enrols a Pi.
    svc = _enrolment_service(c)
    with pytest.raises(CodeInvalid):
        svc.exchange(EnrolRequest(code=code, hostname="pi-1"))


def _enrolment_service(c: WebCentral) -> Any:
    from central.config import EnrolmentSettings
    from central.enrolment import EnrolmentService
    from tests.support.web_central import SITE_KEY

    return EnrolmentService(
        c.engine.db, EnrolmentSettings(broker_host="127.0.0.1"), site_key=SITE_KEY
    )


async def test_map_places_for_the_forms(c: WebCentral) -> None:
    tech, nurse = await bearer(c, "tech1"), await bearer(c, "nurse1")
    async with aiohttp.ClientSession(base_url=c.base) as s:
        assert (await s.get("/staff/api/map", headers=nurse)).status == 403
        r = await s.get("/staff/api/map", headers=tech)
        assert r.status == 200
        doc = await r.json()
    groups = {g["group"]: g for g in doc["groups"]}
    assert groups["elev-a"]["kind"] == "elevator"
    assert len(groups["elev-a"]["floors"]) >= 2
    assert any(n["node_id"] == "st-lobby" for n in doc["nodes"])
    assert all(n["kind"] != "corridor" or n["name"] for n in doc["nodes"])


# ------------------------------------------------------------------ analytics of past days


def _day_of_work(c: WebCentral, clock: FakeClock, n: int) -> None:
    """Check in and serve `n` patients in one room, 10 minutes apart."""
    day = c.engine.service_day()
    visits = [v.visit_id for v in c.engine.visits(service_day=day, limit=1000)][:n]
    for visit_id in visits:
        c.engine.check_in(visit_id, actor="reception")
    for visit_id in visits:
        clock.advance(minutes=10)
        c.engine.call(visit_id, actor="nurse1")
        c.engine.start(visit_id, actor="nurse1")
        clock.advance(minutes=5)
        c.engine.complete(visit_id, actor="nurse1")


async def test_analytics_of_a_past_day_and_a_range_with_the_csv(tmp_path: Path) -> None:
    today = datetime.now(SEOUL).date()
    yesterday = today - timedelta(days=1)
    clock = FakeClock(datetime.combine(yesterday, dtime(9, 0), SEOUL))
    async with web_central(tmp_path, patients=6, clock=clock) as c:
        _day_of_work(c, clock, 3)  # yesterday: 3 completions
        clock.set(datetime.combine(today, dtime(9, 0), SEOUL))
        c.engine.load(sample_hospital(today, patients=6).data)
        _day_of_work(c, clock, 5)  # today: 5
        h = await bearer(c, "nurse1")
        async with aiohttp.ClientSession(base_url=c.base) as s:

            async def get(q: str) -> Any:
                r = await s.get(f"/staff/api/analytics{q}", headers=h)
                assert r.status == 200, await r.text()
                return await r.json()

            now_doc = await get("")
            assert (now_doc["from"], now_doc["to"], now_doc["today"]) == (
                today.isoformat(),
                today.isoformat(),
                today.isoformat(),
            )
            assert now_doc["totals"]["completed"] == 5
            past = await get(f"?from={yesterday}&to={yesterday}")
            assert past["totals"]["completed"] == 3
            assert past["bottlenecks"] == []
            assert all(r["growth_30min"] is None for r in past["rooms"])
            both = await get(f"?from={yesterday}&to={today}")
            assert both["totals"]["completed"] == 8
            assert [(d["day"], d["completed"]) for d in both["days"]] == [
                (yesterday.isoformat(), 3),
                (today.isoformat(), 5),
            ]
            # Bad selections say what and where.
            for q, where in (
                (f"?from={today}&to={yesterday}", "query.to"),
                (f"?from={today + timedelta(days=1)}", "query.to"),
                (f"?from={today - timedelta(days=40)}&to={today}", "query.from"),
                ("?from=27-11-2026", "query.from"),
            ):
                r = await s.get(f"/staff/api/analytics{q}", headers=h)
                assert r.status == 422, q
                assert (await r.json())["error"]["where"] == where, q
            # The CSV follows the selection: one row per room per day.
            r = await s.get(f"/staff/api/analytics.csv?from={yesterday}&to={yesterday}", headers=h)
            assert f"nfch-rooms-{yesterday}.csv" in r.headers["Content-Disposition"]
            rows = list(csv.DictReader(io.StringIO(await r.text())))
            assert {x["service_day"] for x in rows} == {yesterday.isoformat()}
            assert sum(int(x["completed"]) for x in rows) == 3
            assert all(x["growth_30min"] == "" for x in rows)
            r = await s.get(f"/staff/api/analytics.csv?from={yesterday}&to={today}", headers=h)
            rows = list(csv.DictReader(io.StringIO(await r.text())))
            assert {x["service_day"] for x in rows} == {yesterday.isoformat(), today.isoformat()}
            assert sum(int(x["completed"]) for x in rows) == 8
