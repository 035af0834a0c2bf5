"""The WebSocket feed: sequence numbers, resume after reconnect, reset when too far behind."""

from __future__ import annotations

import asyncio
import json

import pytest

from central.api.ws import Hub
from tests.support.api_client import api_client
from tests.support.central_harness import central_config, seeded_engine


async def _frame(ws, limit_s: float = 5.0) -> dict:
    msg = await asyncio.wait_for(ws.receive_json(), limit_s)
    assert isinstance(msg, dict)
    return msg


async def _until(condition, limit_s: float = 5.0) -> None:
    """Poll `condition` (the publisher runs in the same loop) until true or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def test_hub_replays_from_the_ring_buffer_or_resets():
    hub = Hub(buffer_size=3)
    for i in range(5):
        hub.publish("calls", "call", json.dumps({"n": i}))
    assert hub.seq("calls") == 5

    resumed = hub.connect()
    await hub.subscribe(resumed, {"calls": 3}, hub.epoch)
    frames = [json.loads(resumed.queue.get_nowait()) for _ in range(resumed.queue.qsize())]
    assert [(f["seq"], f["type"], f["data"]) for f in frames] == [
        (4, "call", {"n": 3}),
        (5, "call", {"n": 4}),
    ]

    behind = hub.connect()  # seq 1 is older than the buffer (3..5): reset
    await hub.subscribe(behind, {"calls": 1}, hub.epoch)
    (reset,) = [json.loads(behind.queue.get_nowait()) for _ in range(behind.queue.qsize())]
    assert (reset["type"], reset["seq"]) == ("reset", 5)

    other_epoch = hub.connect()  # a seq from before a restart means nothing now
    await hub.subscribe(other_epoch, {"calls": 4}, "0000")
    assert json.loads(other_epoch.queue.get_nowait())["type"] == "reset"

    # Live frames reach every subscriber, encoded once (the same string object).
    hub.publish("calls", "call", "{}")
    texts = [c.queue.get_nowait() for c in (resumed, behind, other_epoch)]
    assert texts[0] is texts[1] is texts[2]


async def test_room_versions_never_go_back():
    hub = Hub()
    assert hub.publish_room("r1", 5, '{"version":5}')
    assert not hub.publish_room("r1", 5, '{"version":5}')
    assert not hub.publish_room("r1", 4, '{"version":4}')
    assert hub.publish_room("r1", 6, '{"version":6}')
    assert hub.seq("room:r1") == 2


@pytest.fixture
def seeded(tmp_path):
    config = central_config(tmp_path, 1883, "unused")
    engine, sample = seeded_engine(config, patients=30)
    yield engine, sample
    engine.close()


async def test_websocket_resume_after_reconnect(seeded):
    engine, sample = seeded
    by_room: dict[str, list[str]] = {}
    for v in sample.data.visits:
        by_room.setdefault(v.steps[0].room_id, []).append(v.visit_id)
    room, visits = max(by_room.items(), key=lambda kv: len(kv[1]))
    stream = f"room:{room}"
    async with api_client(engine, sample) as w:
        c = w.client
        ws = await c.ws_connect("/api/v1/ws")
        await ws.send_json({"op": "subscribe", "streams": {stream: None, "calls": None}})
        first = {f["stream"]: f for f in [await _frame(ws), await _frame(ws)]}
        assert first[stream]["type"] == "reset"
        assert first[stream]["data"]["room_id"] == room
        epoch = first[stream]["epoch"]

        await c.post(f"/api/v1/visits/{visits[0]}/check-in", json={})
        live = await _frame(ws)
        assert (live["stream"], live["type"]) == (stream, "snapshot")
        assert [e["visit_id"] for e in live["data"]["waiting"]] == [visits[0]]
        last_seq = live["seq"]
        await ws.close()

        # While away: two more check-ins and a call.
        await c.post(f"/api/v1/visits/{visits[1]}/check-in", json={})
        await c.post(f"/api/v1/visits/{visits[2]}/check-in", json={})
        await c.post(f"/api/v1/rooms/{room}/call-next", json={})
        target = engine.room_snapshot(room).version
        await _until(lambda: w.ctx.hub._room_versions.get(room) == target)

        ws = await c.ws_connect("/api/v1/ws")
        await ws.send_json({"op": "subscribe", "streams": {stream: last_seq}, "epoch": epoch})
        missed = []
        while not missed or missed[-1]["data"]["version"] < target:
            missed.append(await _frame(ws))
        seqs = [f["seq"] for f in missed]
        assert seqs == list(range(last_seq + 1, last_seq + 1 + len(missed)))
        assert all(f["type"] == "snapshot" for f in missed)
        assert missed[-1]["data"]["now_calling"][0]["visit_id"] == visits[0]
        await ws.close()

        # Too far behind for the ring buffer (8 frames): one reset with the current state.
        for i in range(10):
            before = w.ctx.hub.seq(stream)
            op = "hold" if i % 2 == 0 else "release"
            resp = await c.post(f"/api/v1/visits/{visits[1]}/{op}", json={})
            assert resp.status == 200
            await _until(lambda b=before: w.ctx.hub.seq(stream) > b)
        final = engine.room_snapshot(room).version
        assert w.ctx.hub.seq(stream) >= seqs[-1] + 10
        ws = await c.ws_connect("/api/v1/ws")
        await ws.send_json({"op": "subscribe", "streams": {stream: seqs[-1]}, "epoch": epoch})
        reset = await _frame(ws)
        assert reset["type"] == "reset"
        assert reset["data"]["version"] == final
        assert reset["seq"] == w.ctx.hub.seq(stream)

        # Bad client messages get an error frame and the connection stays usable.
        await ws.send_str('{"op": "subscribe", "streams": {"room:NOT OK": null}}')
        err = await _frame(ws)
        assert err["type"] == "error"
        assert err["data"]["reason"] == "invalid_input"
        await ws.send_json({"op": "unsubscribe", "streams": [stream]})
        await ws.close()


async def test_a_client_that_falls_behind_is_dropped_not_buffered_forever():
    hub = Hub(client_queue=2)
    slow = hub.connect()
    await hub.subscribe(slow, {"calls": None}, None)  # the reset frame: 1 queued
    hub.publish("calls", "call", "{}")  # 2 queued: full
    assert not slow.overflowed.is_set()
    hub.publish("calls", "call", "{}")  # no room: dropped, it will resume
    assert slow.overflowed.is_set()
    assert slow.queue.qsize() == 2
    hub.close_all()
    assert slow.shutting_down
