"""A central HTTP server for dashboard and phone-page tests: the real engine, API routes,
WebSocket hub, publisher, auth and web pages on a free port (no MQTT bridge: these tests
drive the HTTP side). Staff: nurse1 (nurse), tech1 (technician), admin1 (admin)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from central.api.routes import ApiContext, build_app
from central.api.ws import Hub
from central.auth.http import make_authorizer
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.bridge import ChangePublisher, Fleet, SnapshotCache
from central.bridge.directory import WayfindingPublisher
from central.clock import Clock, SystemClock
from central.config import SAMPLE_MAP as CENTRAL_SAMPLE_MAP
from central.config import EnrolmentSettings
from central.engine import Engine
from central.engine.loader import HospitalData
from central.enrolment import SERVICE_KEY as ENROLMENT_KEY
from central.enrolment import EnrolmentService
from central.seed import SampleHospital, sample_hospital
from central.store import Database
from central.web.config import WebConfig
from central.web.live_map import LiveMap
from central.web.site import attach
from protocol.topics import Topics
from tests.support.auth_world import auth_config

SITE_KEY = b"web-test-site-key-0123456789abcd"
SAMPLE_MAP = CENTRAL_SAMPLE_MAP  # the packaged sample (an imported map replaces it)
PASSWORDS = {"nurse1": "nurse-password-1", "tech1": "tech-password-1", "admin1": "admin-password-1"}


@dataclass
class WebCentral:
    """A running server and its parts."""

    engine: Engine
    auth: AuthService
    hub: Hub
    publisher: ChangePublisher
    fleet: Fleet
    sample: SampleHospital
    port: int
    wayfinding: WayfindingPublisher
    live_map: LiveMap | None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def web_central(
    tmp: Path,
    *,
    patients: int = 12,
    clock: Clock | None = None,
    data: HospitalData | None = None,
    **auth_over: Any,
) -> AsyncIterator[WebCentral]:
    """Run the server until the block ends."""
    db = Database(str(tmp / "central.db"))
    db.migrate()
    engine = Engine(db, site_key=SITE_KEY, clock=clock or SystemClock())
    sample = sample_hospital(engine.service_day(), patients=patients)
    engine.load(data or sample.data)
    hub = Hub()
    cache = SnapshotCache(engine)

    async def load_room(stream: str) -> str | None:
        _snap, raw = await cache.get(stream.split(":", 1)[1])
        return raw.decode()

    hub.set_loader(load_room)
    publisher = ChangePublisher(
        engine, Topics("test/nfch"), hub, cache, phone_page_url="http://127.0.0.1/p"
    )
    fleet = Fleet()
    ctx = ApiContext(engine, publisher, cache, fleet, hub, None)
    auth = AuthService(
        db,
        auth_config(**auth_over),
        derive_key(SITE_KEY, "jwt"),
        clock=engine.clock,
        service_day=engine.service_day,
    )
    auth.add_user("nurse1", "김간호", "nurse", PASSWORDS["nurse1"])
    auth.add_user("tech1", "박기사", "technician", PASSWORDS["tech1"])
    auth.add_user("admin1", "이관리", "admin", PASSWORDS["admin1"])
    app = build_app(ctx, authorizer=make_authorizer(auth))
    live_map = attach(app, ctx, auth, WebConfig(map_file=SAMPLE_MAP))
    # Station enrolment codes through the API (the broker host is only told to stations).
    app[ENROLMENT_KEY] = EnrolmentService(
        db, EnrolmentSettings(broker_host="127.0.0.1"), site_key=SITE_KEY, clock=engine.clock
    )
    # The directory task: it serves the map the closure routes validate against.
    wayfinding = WayfindingPublisher(
        db,
        SAMPLE_MAP,
        engine.clock,
        lambda docs: publisher.set_wayfinding(docs.map_payload, docs.routes_payload),
        check_s=5.0,  # the closure routes wake it at once
    )
    runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server
    port = server.sockets[0].getsockname()[1]
    await publisher.mark_all()
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(publisher.run(), name="publisher"),
                tg.create_task(wayfinding.run(), name="wayfinding"),
            ]
            try:
                yield WebCentral(
                    engine, auth, hub, publisher, fleet, sample, port, wayfinding, live_map
                )
            finally:
                for task in tasks:
                    task.cancel()
    finally:
        await runner.cleanup()
        engine.close()
