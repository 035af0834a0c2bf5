"""The API's one error format: engine refusals, validation, unknown routes, internal errors."""

from __future__ import annotations

import logging

import pytest

from central.api.routes import REGISTRY
from tests.support.api_client import api_client
from tests.support.central_harness import central_config, seeded_engine

ERROR_KEYS = {"reason", "message_ko", "message_en", "detail", "where"}


@pytest.fixture
def seeded(tmp_path):
    config = central_config(tmp_path, 1883, "unused")
    engine, sample = seeded_engine(config, patients=20)
    yield engine, sample
    engine.close()


def _error(body: dict) -> dict:
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    return body["error"]


async def test_engine_refusal_keeps_its_reason_status_and_messages(seeded):
    engine, sample = seeded
    room = engine.room_ids()[0]
    async with api_client(engine, sample) as w:
        resp = await w.client.post(f"/api/v1/rooms/{room}/call-next", json={"actor": "nurse1"})
        assert resp.status == 409
        err = _error(await resp.json())
        assert err["reason"] == "queue_empty"
        assert err["message_ko"]
        assert room in err["message_en"]

        resp = await w.client.post("/api/v1/visits/nope/start", json={})
        assert resp.status == 404
        assert _error(await resp.json())["reason"] == "unknown_visit"


async def test_validation_errors_name_the_field(seeded):
    engine, sample = seeded
    room = engine.room_ids()[0]
    async with api_client(engine, sample) as w:
        resp = await w.client.post(
            f"/api/v1/rooms/{room}/call-next", json={"actor": "n", "desk": "a b"}
        )
        assert resp.status == 422
        err = _error(await resp.json())
        assert (err["reason"], err["where"]) == ("invalid_input", "body.desk")

        resp = await w.client.post(f"/api/v1/rooms/{room}/call-next", json={"surprise": 1})
        assert resp.status == 422
        assert _error(await resp.json())["where"] == "body.surprise"

        resp = await w.client.post(f"/api/v1/rooms/{room}/call-next", data=b"{not json")
        assert resp.status == 400
        assert _error(await resp.json())["reason"] == "not_json"

        resp = await w.client.get("/api/v1/audit", params={"limit": "0"})
        assert resp.status == 422
        assert _error(await resp.json())["where"] == "query.limit"

        resp = await w.client.get("/api/v1/audit", params={"colour": "red"})
        assert _error(await resp.json())["where"] == "query.colour"

        resp = await w.client.get("/api/v1/rooms/BAD%20ID/queue")
        assert resp.status == 422
        assert _error(await resp.json())["where"] == "path.room_id"


async def test_unknown_route_and_method_answer_json(seeded):
    engine, sample = seeded
    async with api_client(engine, sample) as w:
        resp = await w.client.get("/api/v1/nothing-here")
        assert resp.status == 404
        assert resp.content_type == "application/json"
        assert _error(await resp.json())["reason"] == "not_found"

        resp = await w.client.delete("/api/v1/rooms")
        assert resp.status == 405
        assert _error(await resp.json())["reason"] == "method_not_allowed"


async def test_unexpected_error_is_500_without_internals(seeded, caplog, monkeypatch):
    engine, sample = seeded

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals: /etc/passwd")

    monkeypatch.setattr(engine, "directory_rooms", explode)
    async with api_client(engine, sample) as w:
        with caplog.at_level(logging.ERROR, logger="central.api"):
            resp = await w.client.get("/api/v1/rooms")
        assert resp.status == 500
        text = await resp.text()
        assert "secret" not in text
        assert "RuntimeError" not in text
        assert _error(await resp.json())["reason"] == "internal"
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)


def test_every_staff_route_names_roles_for_the_auth_middleware():
    # Public on purpose: a station holding an enrolment code or its own broker password, and
    # the patients' assistant (live answers check the phone-page token themselves).
    public = {"enrol_station", "station_leave", "assistant_ask"}
    staff_ops = [r for r in REGISTRY.routes if r.method == "POST" and r.name not in public]
    assert staff_ops
    assert all(r.roles for r in staff_ops)
    assert public <= {r.name for r in REGISTRY.routes if r.method == "POST" and not r.roles}
