"""Two nurses pressing "call next" at once, through the real HTTP API, on SQLite and on
PostgreSQL: never two patients for one desk, never a patient skipped or called twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.api_client import api_client
from tests.support.central_harness import central_config, seeded_engine
from tests.support.postgres import TempDatabase

pytestmark = pytest.mark.integration

WAITING = 12


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield None
        return
    request.getfixturevalue("postgres_db")  # skips (or fails) when no server answers
    db = TempDatabase()  # a database of our own: the queue state must start empty
    try:
        yield db.sqlalchemy_url
    finally:
        db.close()


async def test_concurrent_call_next_never_doubles_or_skips(tmp_path, db_url):
    config = central_config(tmp_path, 1883, "unused", db_url=db_url)
    engine, sample = seeded_engine(config, patients=120)
    try:
        by_room: dict[str, list[str]] = {}
        for v in sample.data.visits:
            by_room.setdefault(v.steps[0].room_id, []).append(v.visit_id)
        room, visits = max(by_room.items(), key=lambda kv: len(kv[1]))
        assert len(visits) >= WAITING
        async with api_client(engine, sample) as w:
            c = w.client
            for v in visits[:WAITING]:
                resp = await c.post(f"/api/v1/visits/{v}/check-in", json={})
                assert resp.status == 200, await resp.text()
            queue = await (await c.get(f"/api/v1/rooms/{room}/queue")).json()
            expected = [e["visit_id"] for e in queue["waiting"]]
            assert len(expected) == WAITING

            async def call(desk: str) -> tuple[int, dict]:
                resp = await c.post(
                    f"/api/v1/rooms/{room}/call-next", json={"actor": f"n{desk}", "desk": desk}
                )
                return resp.status, await resp.json()

            # Same desk, pressed twice at once: exactly one call, the other refused.
            results = await asyncio.gather(call("1"), call("1"))
            statuses = sorted(s for s, _ in results)
            assert statuses == [200, 409]
            refused = next(b for s, b in results if s == 409)
            assert refused["error"]["reason"] == "desk_busy"
            called = [b["visit"]["visit_id"] for s, b in results if s == 200]
            await c.post(f"/api/v1/visits/{called[0]}/start", json={})

            # Rounds of four desks pressing at once, until the queue is empty.
            desks = ["1", "2", "3", "4"]
            while len(called) < WAITING:
                results = await asyncio.gather(*(call(d) for d in desks))
                got = []
                for (status, body), desk in zip(results, desks, strict=True):
                    if status == 200:
                        assert body["visit"]["desk"] == desk
                        got.append(body["visit"]["visit_id"])
                    else:
                        assert body["error"]["reason"] == "queue_empty", body
                assert got, "a round with people waiting called nobody"
                # Whoever pressed first, a round calls exactly the next ones in line.
                assert set(got) == set(expected[len(called) : len(called) + len(got)])
                called += got
                for v in got:  # free the desks for the next round
                    resp = await c.post(f"/api/v1/visits/{v}/start", json={})
                    assert resp.status == 200
            assert len(called) == len(set(called)), "a patient was called twice"
            assert sorted(called) == sorted(expected), "a patient was skipped"
            final = await (await c.get(f"/api/v1/rooms/{room}/queue")).json()
            assert final["waiting"] == []
            assert final["now_calling"] == []
    finally:
        engine.close()
