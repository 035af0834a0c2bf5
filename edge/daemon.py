"""The station daemon process: wiring, the task group, ordered shutdown, sd_notify.

Essential tasks (readers, MQTT sync, screen idle timer, HTTP) live in one TaskGroup; if any
of them crashes, the group is cancelled and the process exits 1 so systemd restarts it.
SIGTERM/SIGINT shut down in logged steps: readers first (no new taps), then a final
`online=false` status and the MQTT link, then HTTP, then the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.config import EdgeConfig
from edge.errors import EdgeError, SiteKeyError
from edge.feedback import ReaderLights, ScreenFeed
from edge.http import EdgeHttp
from edge.metrics import READER_STATES, READER_STATUS
from edge.readers import Debouncer, make_raw_reader
from edge.readers.base import CardRead, Reader, ReadResult
from edge.readers.simulated import SimulatedReader
from edge.station import Station
from edge.store.db import StationStore
from edge.sync import Syncer
from protocol.config import read_secret_file
from protocol.errors import ConfigError
from protocol.ids import parse_site_key
from protocol.messages import StationScreen
from protocol.mqtt import MqttNotConnected
from protocol.systemd import sd_notify, watchdog_interval_s

log = logging.getLogger(__name__)

DB_NAME = "station.sqlite3"
PORT_FILE = "http.port"


class _StopRequested(Exception):
    """Raised inside the task group to end it after an ordered shutdown."""


def read_site_key(path: Path) -> bytes:
    """The site key from its file: hex text, the same format central writes.

    The file must be readable by the daemon's user only (mode 600): a missing, unreadable or
    group/world-accessible file is a SiteKeyError naming `site_key_file`, the file and the fix.
    """
    try:
        text = read_secret_file(path, "site_key_file")
    except ConfigError as e:
        raise SiteKeyError(str(e)) from None
    try:
        return parse_site_key(text, str(path))
    except ValueError as e:
        raise SiteKeyError(f"site_key_file: {e}") from None


class Daemon:
    """One running station: store, station core, readers, sync, HTTP."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.site_key = read_site_key(config.site_key_file)
        self.store = StationStore(config.data_dir / DB_NAME)
        try:
            self._build(config)
        except BaseException:
            # A bad MQTT password file (ConfigError) or a reader that cannot be set up.
            self.store.close()
            raise

    def _build(self, config: EdgeConfig) -> None:
        self.station = Station(
            config.station_id,
            self.store,
            self.site_key,
            location_node=config.location_node,
            offline_after_s=config.sync.offline_after_s,
        )
        self.readers: list[tuple[Reader, Debouncer]] = []
        self.simulated: dict[str, SimulatedReader] = {}
        for rc in config.readers:
            reader = make_raw_reader(rc)
            self.readers.append((reader, Debouncer(rc.debounce_s)))
            if isinstance(reader, SimulatedReader):
                self.simulated[reader.name] = reader
        self.station.signal = ReaderLights({r.name: r for r, _ in self.readers})
        self.syncer = Syncer(config, self.station, [r for r, _ in self.readers])
        self.feed: ScreenFeed = self.station.feed
        self._waiters: dict[int, tuple[ReadResult, asyncio.Future[StationScreen | None]]] = {}
        self.http = EdgeHttp(
            self.feed.subscribe,
            self.feed.unsubscribe,
            self.simulated,
            self.wait_for_tap,
            self.health,
        )
        self.http_port: int | None = None
        self.stop_event = asyncio.Event()

    # --- taps -------------------------------------------------------------------------------

    async def wait_for_tap(self, result: ReadResult) -> StationScreen | None:
        """Wait until `result` (just injected) was handled; None when it was debounced."""
        fut: asyncio.Future[StationScreen | None] = asyncio.get_running_loop().create_future()
        self._waiters[id(result)] = (result, fut)
        try:
            return await asyncio.wait_for(fut, 30)
        finally:
            self._waiters.pop(id(result), None)

    def _resolve(self, result: ReadResult, screen: StationScreen | None) -> None:
        entry = self._waiters.get(id(result))
        if entry is not None and entry[0] is result and not entry[1].done():
            entry[1].set_result(screen)

    async def _run_reader(self, reader: Reader, debouncer: Debouncer) -> None:
        async def on_read(result: ReadResult) -> None:
            # Debounced here rather than by DebouncedReader so a local tap can be told "debounced".
            if isinstance(result, CardRead) and not debouncer.accept(
                result.uid, result.read_at_monotonic
            ):
                log.debug("reader.debounced reader=%s", result.reader)
                self._resolve(result, None)
                return
            screen = await self.station.on_read(result)
            self._resolve(result, screen)

        await reader.run(on_read)

    async def _watch_reader_health(self, interval_s: float = 1.0) -> None:
        # Drivers report health by polling (cheap, never blocks); a change becomes an event
        # for central, an immediate status update and the reader-status gauge. The first
        # reading is the baseline. `degraded` is worked out by the drivers' HealthTracker.
        last: dict[str, str] = {}
        while True:
            for reader, _ in self.readers:
                health = reader.health()
                for state in READER_STATES:
                    READER_STATUS.labels(reader=health.name, status=state).set(
                        1 if state == health.status else 0
                    )
                before = last.get(health.name)
                last[health.name] = health.status
                if before is not None and before != health.status:
                    log.info(
                        "reader.health_changed reader=%s from=%s to=%s",
                        health.name,
                        before,
                        health.status,
                    )
                    self.station.record_reader_health(health)
                    self.syncer.status_changed()
            await asyncio.sleep(interval_s)

    # --- health -----------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        status = self.syncer.status()
        ok = "disk_full" not in status.alarms and "store_error" not in status.alarms
        body = status.model_dump(mode="json")
        body["status"] = "ok" if ok else "failing"
        body["offline"] = self.station.offline
        return ok, body

    # --- lifecycle --------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        interval = watchdog_interval_s()
        if not self.config.watchdog or interval is None:
            await asyncio.Event().wait()
            return
        while True:
            sd_notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _serve_http(self) -> None:
        runner = web.AppRunner(self.http.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.http.host, self.config.http.port)
        await site.start()
        try:
            addresses = runner.addresses
            self.http_port = int(addresses[0][1]) if addresses else self.config.http.port
            port_file = self.config.data_dir / PORT_FILE
            port_file.write_text(f"{self.http_port}\n")
            log.info("http.listening host=%s port=%d", self.config.http.host, self.http_port)
            await asyncio.Event().wait()
        finally:
            log.info("daemon.shutdown step=http")
            await runner.cleanup()

    async def _stopper(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        await self.stop_event.wait()
        log.info("daemon.shutdown step=readers")
        for name, task in tasks.items():
            if name.startswith("reader-"):
                task.cancel()
        for name, task in tasks.items():
            if name.startswith("reader-"):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        log.info("daemon.shutdown step=status_offline")
        try:
            await asyncio.wait_for(self.syncer.publish_status(online=False), 3)
        except (MqttNotConnected, TimeoutError) as e:
            log.info("daemon.offline_status_not_published error=%s", e)
        raise _StopRequested

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (0) or until an essential task crashes (1)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop_event.set)
        log.info(
            "daemon.starting station=%s readers=%d data_dir=%s",
            self.config.station_id,
            len(self.readers),
            self.config.data_dir,
        )
        if self.config.sync.acked_retention_s > 0:
            pruned = self.store.prune_acked(time.time() - self.config.sync.acked_retention_s)
            if pruned:
                log.info("store.pruned_acked rows=%d", pruned)
        code = 0
        try:
            async with asyncio.TaskGroup() as tg:
                tasks: dict[str, asyncio.Task[None]] = {}
                for reader, debouncer in self.readers:
                    name = f"reader-{reader.name}"
                    tasks[name] = tg.create_task(self._run_reader(reader, debouncer), name=name)
                tasks["sync"] = tg.create_task(self.syncer.run(), name="sync")
                tasks["screen-idle"] = tg.create_task(
                    self.feed.run_idle(self.config.screen_idle_s, self.station.idle_screen),
                    name="screen-idle",
                )
                tasks["http"] = tg.create_task(self._serve_http(), name="http")
                tasks["watchdog"] = tg.create_task(self._watchdog(), name="watchdog")
                tasks["reader-health"] = tg.create_task(
                    self._watch_reader_health(), name="reader-health"
                )
                tg.create_task(self._stopper(tasks), name="stopper")
                sd_notify("READY=1")
        except* _StopRequested:
            log.info("daemon.shutdown step=tasks_stopped")
        except* (Exception, EdgeError) as group:
            for exc in group.exceptions:
                log.critical("daemon.task_crashed error=%r", exc, exc_info=exc)
            code = 1
        finally:
            sd_notify("STOPPING=1")
            log.info("daemon.shutdown step=store")
            self.store.close()
            log.info("daemon.stopped station=%s code=%d", self.config.station_id, code)
        return code
