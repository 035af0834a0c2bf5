"""The HTTP API on a real SQLite engine without MQTT: an aiohttp test client for API tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp.test_utils import TestClient, TestServer

from central.api.routes import ApiContext, build_app
from central.api.ws import Hub
from central.bridge import ChangePublisher, Fleet, SnapshotCache
from central.engine import Engine
from central.seed import SampleHospital
from protocol.topics import Topics


@dataclass
class ApiWorld:
    client: TestClient
    engine: Engine
    sample: SampleHospital
    ctx: ApiContext


@contextlib.asynccontextmanager
async def api_client(engine: Engine, sample: SampleHospital) -> AsyncIterator[ApiWorld]:
    """The API app over `engine`, with a publisher that has no broker (WebSocket only)."""
    hub = Hub(buffer_size=8)
    cache = SnapshotCache(engine)
    publisher = ChangePublisher(engine, Topics("t"), hub, cache, phone_page_url="http://x/p")
    ctx = ApiContext(engine, publisher, cache, Fleet(), hub)
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(publisher.run(), name="publisher")
            try:
                yield ApiWorld(client, engine, sample, ctx)
            finally:
                # Let a round in flight finish its database reads before the engine closes.
                await publisher.flush(10)
                task.cancel()
    finally:
        await client.close()
