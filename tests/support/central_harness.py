"""Central under test: a seeded database, an in-process `Central`, MQTT helper clients.

`central_config` makes a config on a fresh SQLite file (or a PostgreSQL URL) with a unique
topic root; `seeded_engine` loads the sample hospital for today; `running_central` runs the
real `Central` (HTTP on a free port + bridge) in this event loop until the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from central.app import Central, open_engine
from central.config import CentralConfig
from central.engine import Engine
from central.seed import SampleHospital, sample_hospital
from protocol.hlc import HybridLogicalClock
from protocol.ids import card_hash
from protocol.messages import CheckInEvent, EventBatch, TapEvent
from protocol.mqtt import Incoming, MqttLink
from protocol.settings import MqttSettings


def central_config(
    tmp: Path, broker_port: int, topic_root: str, db_url: str | None = None
) -> CentralConfig:
    """A config for one test: its own database, site key and topic root; HTTP on a free port."""
    return CentralConfig.model_validate(
        {
            "http": {"host": "127.0.0.1", "port": 0},
            "database": {"url": db_url or f"sqlite:///{tmp / 'central.db'}"},
            "mqtt": {
                "port": broker_port,
                "topic_root": topic_root,
                "client_id": f"central-{uuid.uuid4().hex[:8]}",
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1.0,
                "keepalive_s": 5,
            },
            "site": {"site_key_file": str(tmp / "site.key")},
            # In-thread cards directory: a child process per test would cost a second each
            # (test_bridge_cards_worker.py runs the worker).
            "bridge": {"drain_timeout_s": 5, "cards_in_worker": False},
        }
    )


def seeded_engine(config: CentralConfig, patients: int = 40) -> tuple[Engine, SampleHospital]:
    """Open (migrate) the database and load the sample hospital for today's service day."""
    engine = open_engine(config)
    sample = sample_hospital(engine.service_day(), patients=patients)
    engine.load(sample.data)
    return engine, sample


@contextlib.asynccontextmanager
async def running_central(config: CentralConfig, engine: Engine) -> AsyncIterator[Central]:
    """Run `Central` with `engine` until the block ends, then shut it down gracefully."""
    central = Central(config, engine=engine)
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(central.run(stop), name="central")
        ready = tg.create_task(central.ready.wait(), name="central-ready")
        done, _ = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()  # raises what made it end
        assert central.bridge is not None
        await asyncio.wait_for(central.bridge.link.subscribed.wait(), 15)
        try:
            yield central
        finally:
            stop.set()


def mqtt_settings(port: int, topic_root: str) -> MqttSettings:
    return MqttSettings(
        port=port, topic_root=topic_root, reconnect_min_s=0.2, reconnect_max_s=1, keepalive_s=5
    )


class Collector:
    """An MqttLink handler that keeps every message, and lets tests wait for one."""

    def __init__(self) -> None:
        self.messages: list[Incoming] = []
        self._changed = asyncio.Condition()

    async def __call__(self, msg: Incoming) -> None:
        async with self._changed:
            self.messages.append(msg)
            self._changed.notify_all()

    async def wait_for(self, predicate: object, limit_s: float = 10.0) -> Incoming:
        """The first message (old or new) for which `predicate(msg)` is true."""
        assert callable(predicate)

        async def find() -> Incoming:
            async with self._changed:
                while True:
                    for msg in self.messages:
                        if predicate(msg):
                            return msg
                    await self._changed.wait()

        return await asyncio.wait_for(find(), limit_s)


class EventFactory:
    """Builds a station's events with its own HLC and sequence numbers."""

    def __init__(self, station_id: str, site_key: bytes) -> None:
        self.station_id = station_id
        self.site_key = site_key
        self.seq = 0
        self.hlc = HybridLogicalClock(station_id)

    def _base(self) -> dict[str, object]:
        self.seq += 1
        return {
            "event_id": uuid.uuid4(),
            "station_seq": self.seq,
            "hlc": self.hlc.now().to_text(),
            "wall_time": datetime.now(UTC),
        }

    def check_in(self, engine: Engine, sample: SampleHospital, visit_id: str) -> CheckInEvent:
        """A station-decided check-in of `visit_id` into its first step's room."""
        visit = engine.visit(visit_id)
        return CheckInEvent(
            kind="check_in",
            card_hash=card_hash(self.site_key, sample.visit_cards[visit_id]),
            visit_id=visit_id,
            room_id=visit.steps[visit.current_step].room_id,
            step_index=visit.current_step,
            service_day=visit.service_day,
            ticket_number=None,
            **self._base(),  # type: ignore[arg-type]
        )

    def tap(self, sample: SampleHospital, visit_id: str) -> TapEvent:
        return TapEvent(
            kind="tap",
            card_hash=card_hash(self.site_key, sample.visit_cards[visit_id]),
            visit_id=visit_id,
            outcome="already_waiting",
            **self._base(),  # type: ignore[arg-type]
        )

    def batch(self, events: list[CheckInEvent | TapEvent]) -> EventBatch:
        return EventBatch(station_id=self.station_id, sent_at=datetime.now(UTC), events=events)


async def start_link(
    tg: asyncio.TaskGroup, link: MqttLink, name: str, limit_s: float = 10.0
) -> asyncio.Task[None]:
    """Start `link` in `tg` and wait until it is connected and subscribed."""
    task = tg.create_task(link.run(), name=name)
    await asyncio.wait_for(link.connected.wait(), limit_s)
    await asyncio.wait_for(link.subscribed.wait(), limit_s)
    return task


class CentralProcess:
    """`nfc-hospital central --config FILE` as a child process the test can SIGKILL/SIGTERM."""

    def __init__(self, config: CentralConfig, workdir: Path) -> None:
        from protocol.config import render_config
        from tests.support.ports import free_port

        self.port = free_port()
        data = config.model_copy(
            update={"http": config.http.model_copy(update={"port": self.port})}
        )
        self.config_path = workdir / "central.toml"
        self.config_path.write_text(render_config(data), encoding="utf-8")
        self.log_path = workdir / "central.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nfc_hospital", "central", "--config", str(self.config_path)],
            stdout=log,
            stderr=log,
        )
        log.close()

    async def wait_ready(self, limit_s: float = 30.0) -> None:
        """Until /healthz says the database and the broker are both reachable."""
        import aiohttp

        async with asyncio.timeout(limit_s), aiohttp.ClientSession() as http:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"central exited early:\n{self.log()}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        body = await resp.json()
                        if body["status"] == "ok":
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown step runs."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, limit_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=limit_s)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        self.kill()
