"""Staff operations and reads through the HTTP API on a real SQLite engine."""

from __future__ import annotations

import pytest

from tests.support.api_client import api_client
from tests.support.central_harness import central_config, seeded_engine


@pytest.fixture
def seeded(tmp_path):
    config = central_config(tmp_path, 1883, "unused")
    engine, sample = seeded_engine(config, patients=30)
    yield engine, sample
    engine.close()


def _one_step_visits(engine, sample, n: int) -> list[str]:
    """`n` visits whose first step is in the same room."""
    by_room: dict[str, list[str]] = {}
    for v in sample.data.visits:
        by_room.setdefault(v.steps[0].room_id, []).append(v.visit_id)
    visits = max(by_room.values(), key=len)
    assert len(visits) >= n
    return visits[:n]


async def test_a_journey_through_the_api(seeded):
    engine, sample = seeded
    a, b = _one_step_visits(engine, sample, 2)
    room = engine.visit(a).steps[0].room_id
    async with api_client(engine, sample) as w:
        c = w.client
        for v in (a, b):
            resp = await c.post(f"/api/v1/visits/{v}/check-in", json={"actor": "desk1"})
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            assert body["visit"]["state"] == "WAITING"
            assert body["rooms_changed"] == [room]

        resp = await c.get(f"/api/v1/rooms/{room}/queue")
        snap = await resp.json()
        assert [e["visit_id"] for e in snap["waiting"]] == [a, b]
        assert all("*" in e["masked_name"] for e in snap["waiting"])

        resp = await c.post(f"/api/v1/rooms/{room}/call-next", json={"actor": "nurse1"})
        called = await resp.json()
        assert called["visit"]["visit_id"] == a
        assert called["visit"]["state"] == "CALLED"
        assert called["announcements"][0]["ticket_number"] == called["visit"]["ticket_number"]

        resp = await c.post(f"/api/v1/visits/{a}/recall", json={"actor": "nurse1"})
        assert (await resp.json())["visit"]["call_count"] == 2
        resp = await c.post(f"/api/v1/visits/{a}/start", json={"actor": "nurse1"})
        assert (await resp.json())["visit"]["state"] == "ONGOING"
        resp = await c.post(f"/api/v1/visits/{a}/complete", json={"actor": "nurse1"})
        state = (await resp.json())["visit"]["state"]
        assert state in ("WAITING", "PAYMENT")

        resp = await c.post(f"/api/v1/visits/{b}/hold", json={})
        assert (await resp.json())["visit"]["queue_state"] == "ON_HOLD"
        resp = await c.post(f"/api/v1/visits/{b}/release", json={})
        assert (await resp.json())["visit"]["queue_state"] == "WAITING"
        other = next(r for r in engine.room_ids() if r != room)
        resp = await c.post(f"/api/v1/visits/{b}/transfer", json={"to_room_id": other})
        assert (await resp.json())["visit"]["room_id"] == other

        resp = await c.get(f"/api/v1/visits/{a}")
        detail = await resp.json()
        actions = [row["action"] for row in detail["journey"]]
        assert actions[:5] == ["register", "check_in", "call", "recall", "start"]

        resp = await c.get("/api/v1/visits", params={"room_id": other})
        assert [v["visit_id"] for v in (await resp.json())["items"]] == [b]

        # Keyset pagination over the audit log: pages join up with no gap or repeat.
        seen, after = [], 0
        while True:
            resp = await c.get("/api/v1/audit", params={"after_id": after, "limit": 3})
            page = await resp.json()
            seen += [row["audit_id"] for row in page["items"]]
            if page["next_after_id"] is None:
                break
            after = page["next_after_id"]
        assert seen == sorted(set(seen))
        assert len(seen) == len(engine.audit(limit=1000))


async def test_reads_health_metrics_and_room_open(seeded):
    engine, sample = seeded
    room = engine.room_ids()[0]
    async with api_client(engine, sample) as w:
        c = w.client
        rooms = await (await c.get("/api/v1/rooms")).json()
        assert {r["room_id"] for r in rooms["rooms"]} == set(engine.room_ids())
        resp = await c.post(f"/api/v1/rooms/{room}/open", json={"open": False})
        assert (await resp.json()) == {"room_id": room, "open": False}
        snap = await (await c.get(f"/api/v1/rooms/{room}/queue")).json()
        assert snap["open"] is False
        health = await (await c.get("/healthz")).json()
        assert health["database"] is True
        assert health["mqtt_connected"] is False
        assert health["status"] == "degraded"
        for path in ("/api/v1/events", "/api/v1/dead-letters", "/api/v1/stations"):
            resp = await c.get(path)
            assert resp.status == 200, path
        metrics = await (await c.get("/metrics")).text()
        assert 'nfch_central_http_requests_total{route="room_open",status="200"}' in metrics


async def test_room_queue_reads_share_one_encoding_per_version(seeded):
    engine, sample = seeded
    room = engine.room_ids()[0]
    async with api_client(engine, sample) as w:
        first = await (await w.client.get(f"/api/v1/rooms/{room}/queue")).read()
        _snap, cached = await w.ctx.cache.get(room)
        second = await (await w.client.get(f"/api/v1/rooms/{room}/queue")).read()
        assert first == second == cached
        _snap2, again = await w.ctx.cache.get(room)
        assert again is cached
