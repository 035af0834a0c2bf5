"""`nfc-hospital central`: the HTTP API and the MQTT bridge in one process.

`Central.run(stop)` migrates the database, opens the engine, starts the HTTP server and the
bridge as named tasks of one TaskGroup, and when `stop` is set shuts down in logged steps:
stop taking batches and HTTP requests, let the batch in flight commit, send its ack, flush
what the publisher still holds, disconnect from the broker, close the database. When an
essential task crashes the TaskGroup cancels the others and `run` raises: the runner exits
non-zero so systemd restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time

from aiohttp import web
from sqlalchemy import func, select

from central.api.admin_routes import runtime_for
from central.api.routes import ApiContext, build_app
from central.api.ws import Hub
from central.assistant.http import install as install_assistant
from central.assistant.service import AssistantService
from central.auth.http import make_authorizer
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.bridge import Bridge, ChangePublisher, Fleet, SnapshotCache
from central.bridge.cards import CardsWorker
from central.bridge.directory import WayfindingPublisher
from central.clock import Clock, SystemClock
from central.config import CentralConfig
from central.engine import Engine
from central.enrolment import SERVICE_KEY as ENROLMENT_KEY
from central.enrolment import EnrolmentService
from central.estimator import RoomStatsEstimator, local_clock
from central.metrics import ASSISTANT_READY
from central.site_key import load_site_key
from central.store.schema import audit_log
from central.wayfinding.loader import load_map
from central.web.site import attach
from protocol.topics import Topics

log = logging.getLogger("central")


def tune_process(config: CentralConfig) -> float:
    """Apply the interpreter's process-wide settings (`[process]`); returns the switch
    interval it replaced (`Central.run` puts it back when it ends, for in-process callers)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(config.process.gil_switch_interval_ms / 1000)
    return before


def open_engine(config: CentralConfig, clock: Clock | None = None) -> Engine:
    """Migrate the database named in the config and open the engine on it, with the
    room-statistics wait estimator (fed by `AuditFeed` while central runs)."""
    path = config.site.site_key_file
    existed = path.exists()
    key = load_site_key(path, create=True)
    if not existed:
        log.warning("central.site_key_created path=%s mode=0600", path)
    clock = clock or SystemClock()
    estimator = RoomStatsEstimator(clock=clock, local=local_clock(config.site.timezone))
    log.info("central.opening_database migrate=true")
    engine = Engine.from_config(
        config, site_key=key, clock=clock, migrate=True, estimator=estimator
    )
    log.info("central.database_ready")
    return engine


class AuditFeed:
    """Feeds the engine's `RoomStatsEstimator` every committed audit row, in id order.

    Tailing the audit log (rather than hooking each commit) sees every writer: the bridge, the
    API, the dashboard, the day roller, and other central workers on the same database. It
    starts at today's first row, so a restart relearns the day's service times."""

    PAGE = 500

    def __init__(self, engine: Engine, estimator: RoomStatsEstimator, interval_s: float) -> None:
        self.engine = engine
        self.estimator = estimator
        self.interval_s = interval_s
        self.after_id: int | None = None
        self.fed = 0

    def _start_after(self) -> int:
        day = self.engine.service_day()
        with self.engine.db.read() as conn:
            first = conn.execute(
                select(func.min(audit_log.c.audit_id)).where(audit_log.c.service_day >= day)
            ).scalar()
            if first is not None:
                return int(first) - 1
            last = conn.execute(select(func.max(audit_log.c.audit_id))).scalar()
            return int(last or 0)

    def pump(self) -> int:
        """Feed the rows committed since the last call; returns how many."""
        if self.after_id is None:
            self.after_id = self._start_after()
        n = 0
        while True:
            rows = self.engine.audit(after_id=self.after_id, limit=self.PAGE)
            for row in rows:
                self.estimator.observe_audit(row)
                self.after_id = row.audit_id
            n += len(rows)
            if len(rows) < self.PAGE:
                break
        self.fed += n
        return n

    async def run(self) -> None:
        """Pump every `interval_s`; a failed round (database away) is logged and retried."""
        while True:
            try:
                n = await asyncio.to_thread(self.pump)
            except Exception:
                log.exception("central.estimator_feed_failed after_id=%s", self.after_id)
            else:
                if n:
                    log.debug("central.estimator_fed rows=%d after_id=%s", n, self.after_id)
            await asyncio.sleep(self.interval_s)


class Central:
    """The whole central process: engine, bridge, publisher, HTTP API and WebSocket hub."""

    def __init__(
        self,
        config: CentralConfig,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self._engine = engine
        self.http_port: int | None = None
        self.ready = asyncio.Event()
        self.bridge: Bridge | None = None
        self.audit_feed: AuditFeed | None = None
        self.wayfinding: WayfindingPublisher | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine is opened by run()")
        return self._engine

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set (then shut down in order) or an essential task fails."""
        before = tune_process(self.config)
        try:
            await self._run(stop)
        finally:
            sys.setswitchinterval(before)

    async def _run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        if self._engine is None:
            self._engine = await asyncio.to_thread(open_engine, cfg, self.clock)
        engine = self._engine
        # Service-day settings changed by an admin (stored) win over the config file.
        runtime_settings = runtime_for(engine)
        await asyncio.to_thread(runtime_settings.refresh)
        # An engine opened elsewhere (tests, tools) may carry another estimator: feed only ours.
        feed = (
            AuditFeed(engine, engine.estimator, cfg.bridge.estimator_feed_s)
            if isinstance(engine.estimator, RoomStatsEstimator)
            else None
        )
        self.audit_feed = feed
        topics = Topics(cfg.mqtt.topic_root)
        hub = Hub(buffer_size=cfg.api.ws_buffer, client_queue=cfg.api.ws_client_queue)
        cache = SnapshotCache(engine)
        fleet = Fleet()
        # A child process has its own (system) clock: only with the real one.
        cards_worker = (
            CardsWorker(cfg.model_dump(mode="json"), engine.site_key)
            if cfg.bridge.cards_in_worker and isinstance(self.clock, SystemClock)
            else None
        )
        publisher = ChangePublisher(
            engine,
            topics,
            hub,
            cache,
            phone_page_url=cfg.bridge.phone_page_url,
            cards_interval_s=cfg.bridge.cards_interval_s,
            cards_builder=cards_worker.build if cards_worker else None,
        )
        bridge = Bridge(
            engine,
            cfg.mqtt,
            cfg.bridge,
            publisher,
            fleet,
            hub,
            client_id=cfg.mqtt.client_id or f"central-{cfg.queue.node_id}",
            clock=self.clock,
        )
        self.bridge = bridge
        ctx = ApiContext(engine, publisher, cache, fleet, hub, bridge.link)
        auth = AuthService(
            engine.db,
            cfg.auth,
            derive_key(engine.site_key, "jwt"),
            clock=engine.clock,
            service_day=engine.service_day,
        )
        app = build_app(ctx, max_body=cfg.api.max_body_bytes, authorizer=make_authorizer(auth))
        web_cfg = cfg.web
        if web_cfg.map_file is None:  # the phone page draws routes on the same map
            web_cfg = web_cfg.model_copy(update={"map_file": cfg.map_path()})
        # /auth, the staff dashboard, the phone page; `live_map` follows `central map import`
        # and the API's closures, for the phone page's routes and the assistant alike.
        live_map = attach(app, ctx, auth, web_cfg)
        hospital_map = await asyncio.to_thread(
            live_map.current if live_map is not None else lambda: load_map(cfg.map_path())
        )
        assistant = AssistantService.from_config(cfg.assistant, engine, hospital_map)
        if live_map is not None:
            assistant.assistant.follow_map(live_map.current)
        # Its API routes are in the API registry (build_app installed them already).
        install_assistant(app, assistant)
        if cfg.enrolment is not None:
            # Stations must get the topic root this server really uses.
            settings = cfg.enrolment.model_copy(update={"topic_root": cfg.mqtt.topic_root})
            app[ENROLMENT_KEY] = EnrolmentService(
                engine.db, settings, site_key=engine.site_key, clock=engine.clock
            )
        async with contextlib.AsyncExitStack() as resources:
            # Released in reverse order whatever happens: the database last.
            resources.push_async_callback(self._close_database, engine)
            if cards_worker is not None:
                resources.push_async_callback(cards_worker.close)
            runner = web.AppRunner(app, shutdown_timeout=5.0, access_log=None)
            await runner.setup()
            resources.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, cfg.http.host, cfg.http.port)
            await site.start()
            server = site._server  # aiohttp exposes the bound port only here
            sockets = getattr(server, "sockets", None) or []
            self.http_port = sockets[0].getsockname()[1] if sockets else cfg.http.port
            log.info("central.http_listening host=%s port=%s", cfg.http.host, self.http_port)
            # WebSocket clients get every room's state at once, even before the broker answers.
            await publisher.mark_all()
            # Everything built so far (modules, the engine, caches) lives as long as central:
            # out of the collector's sight, a full collection no longer walks it (they took
            # 129-318 ms in bench queue-ops, a pause every request in flight waited out).
            gc.freeze()
            async with asyncio.TaskGroup() as tg:
                essential = [
                    tg.create_task(bridge.run_link(), name="mqtt"),
                    tg.create_task(bridge.run_applier(), name="applier"),
                    tg.create_task(bridge.run_acks(), name="acks"),
                    tg.create_task(publisher.run(), name="publisher"),
                    tg.create_task(self._roll_days(publisher), name="day-roller"),
                ]
                # Not essential, and not awaited before serving: Kiwi's model takes seconds.
                warmup = tg.create_task(self._warm_assistant(assistant), name="assistant-warmup")
                wayfinding = WayfindingPublisher(
                    engine.db,
                    cfg.map_path(),
                    engine.clock,
                    lambda docs: publisher.set_wayfinding(docs.map_payload, docs.routes_payload),
                    check_s=cfg.bridge.map_check_s,
                )
                self.wayfinding = wayfinding
                background = [
                    warmup,
                    tg.create_task(wayfinding.run(), name="wayfinding"),
                    tg.create_task(self._heartbeat(publisher), name="snapshot-heartbeat"),
                    tg.create_task(runtime_settings.run(), name="settings"),
                ]
                if feed is not None:
                    background.append(tg.create_task(feed.run(), name="estimator-feed"))
                self.ready.set()
                await stop.wait()
                await self._shutdown(bridge, publisher, runner, [*essential, *background])

    @staticmethod
    async def _close_database(engine: Engine) -> None:
        await asyncio.to_thread(engine.close)
        log.info("central.shutdown_step step=database_closed")

    async def _shutdown(
        self,
        bridge: Bridge,
        publisher: ChangePublisher,
        runner: web.AppRunner,
        tasks: list[asyncio.Task[None]],
    ) -> None:
        limit = self.config.bridge.drain_timeout_s
        log.info("central.shutdown_step step=begin")
        bridge.stop_accepting()
        log.info("central.shutdown_step step=stopped_taking_batches")
        await runner.shutdown()  # closes listeners and WebSockets; requests in flight finish
        log.info("central.shutdown_step step=http_closed")
        drained = await bridge.drain(limit)
        log.info("central.shutdown_step step=batch_committed_and_acked ok=%s", drained)
        flushed = await publisher.flush(limit)
        log.info("central.shutdown_step step=publisher_flushed ok=%s", flushed)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("central.shutdown_step step=mqtt_disconnected")

    @staticmethod
    async def _warm_assistant(assistant: AssistantService) -> None:
        """Load the Korean analyser and build the FAQ index in a thread after startup, so the
        first question is quick and startup is not held up. A failure is logged, not fatal:
        the first question builds the index again (and answers the error if it recurs)."""
        t0 = time.perf_counter()
        ASSISTANT_READY.set(0)
        try:
            await asyncio.to_thread(assistant.assistant.refresh)
        except Exception:
            log.exception("central.assistant_warmup_failed")
            return
        gc.freeze()  # the analyser and the FAQ index live as long as central too
        ASSISTANT_READY.set(1)
        log.info("central.assistant_ready seconds=%.2f", time.perf_counter() - t0)

    async def _heartbeat(self, publisher: ChangePublisher) -> None:
        """Republish every room's retained snapshot every `bridge.snapshot_heartbeat_s`."""
        while True:
            await asyncio.sleep(self.config.bridge.snapshot_heartbeat_s)
            publisher.request_heartbeat()

    async def _roll_days(self, publisher: ChangePublisher) -> None:
        """Publish the empty morning queues when the service day turns."""
        while True:
            await asyncio.sleep(self.config.bridge.day_check_s)
            try:
                changes = await asyncio.to_thread(self.engine.roll_service_day)
            except Exception:
                log.exception("central.day_roll_failed")
                continue
            if not changes.empty:
                log.info("central.service_day_rolled rooms=%d", len(changes.rooms))
                publisher.submit(changes)
