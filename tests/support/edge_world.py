"""A small hospital for station-daemon tests, and a stand-in for central over MQTT.

`FakeCentral` is NOT central: it is a test-side stand-in (central is built elsewhere) that
decodes `EventBatch`es, records each (station, seq) once, counts duplicates, and answers
with an `Ack` of the highest contiguous seq it holds. It can be paused (central down).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import tomli_w

from protocol.base import LocalizedText
from protocol.codec import decode, encode
from protocol.hlc import HybridLogicalClock
from protocol.ids import card_hash, format_site_key
from protocol.journey import State
from protocol.messages import (
    Ack,
    CardEntry,
    DirectoryCards,
    DirectoryConfig,
    DirectoryRoom,
    DirectoryRooms,
    DirectoryRoutes,
    EventBatch,
    Lease,
    TicketBlock,
    VisitStepInfo,
)
from protocol.mqtt import Incoming, MqttLink, MqttNotConnected
from protocol.settings import MqttSettings
from protocol.topics import Topics
from tests.support.factories import SITE_KEY, sample_route

DAY = date(2026, 11, 27)
XRAY = LocalizedText(ko="영상의학과 X-ray실", en="X-ray room")
LAB = LocalizedText(ko="채혈실", en="Blood test room")


def uid(i: int) -> str:
    """A 7-byte card UID for patient i."""
    return f"04{i:012X}"


def cards(
    n: int, state: State = State.REGISTERED, version: int = 1, day: date = DAY, **kw: object
) -> DirectoryCards:
    """Cards of patients 1..n, each with one X-ray step."""
    return DirectoryCards(
        kind="cards",
        version=version,
        service_day=day,
        cards=[
            CardEntry(
                card_hash=card_hash(SITE_KEY, uid(i)),
                visit_id=f"v{i}",
                masked_name="김*수",
                state=state,
                steps=[
                    VisitStepInfo(room_id="xray-1", label=XRAY),
                    VisitStepInfo(room_id="lab-1", label=LAB),
                ],
                current_step=0,
                **kw,
            )
            for i in range(1, n + 1)
        ],
    )


def rooms(version: int = 1) -> DirectoryRooms:
    return DirectoryRooms(
        kind="rooms",
        version=version,
        rooms=[
            DirectoryRoom(
                room_id="xray-1",
                name=XRAY,
                department_id="radiology",
                department_name=LocalizedText(ko="영상의학과", en="Radiology"),
                kind="imaging",
                floor_label="1F",
                node_id="xray",
                avg_service_s=300,
                prep_notes=LocalizedText(ko="금속을 빼 주세요", en="Remove metal items"),
            ),
            DirectoryRoom(
                room_id="lab-1",
                name=LAB,
                department_id="lab",
                department_name=LocalizedText(ko="진단검사의학과", en="Laboratory"),
                kind="lab",
                floor_label="1F",
                avg_service_s=120,
            ),
        ],
    )


def config(version: int = 1, day: date = DAY, low_water: int = 5) -> DirectoryConfig:
    return DirectoryConfig(
        kind="config",
        version=version,
        site_name=LocalizedText(ko="한빛병원", en="Hanbit Hospital"),
        timezone="Asia/Seoul",
        service_day=day,
        phone_page_url="https://h.example/p",
        lease_low_water=low_water,
    )


def routes(version: int = 1) -> DirectoryRoutes:
    return DirectoryRoutes(kind="routes", version=version, map_version=1, routes=[sample_route()])


def lease(station_id: str, version: int, blocks: Iterable[tuple[str, str, int, int]]) -> Lease:
    return Lease(
        station_id=station_id,
        version=version,
        issued_at=datetime(2026, 11, 27, 7, 0, tzinfo=UTC),
        blocks=[
            TicketBlock(lease_id=lid, room_id=room, service_day=DAY, first=a, last=b)
            for lid, room, a, b in blocks
        ],
    )


class FakeCentral:
    """Test-side stand-in for central's MQTT bridge: records events once and acks them."""

    def __init__(self, port: int, topics: Topics, client_id: str = "fake-central") -> None:
        self.topics = topics
        self.events: dict[tuple[str, int], dict[str, object]] = {}
        self.duplicates = 0
        self.batches = 0
        self.paused = False  # central down: batches are ignored
        self.send_acks = True  # False: events are committed but acks get lost
        self.changed = asyncio.Event()
        self.hlc = HybridLogicalClock("central")
        self.link = MqttLink(
            MqttSettings(port=port, reconnect_min_s=0.2, reconnect_max_s=1, keepalive_s=5),
            client_id,
            subscriptions=[(topics.station_filter("events"), 1)],
            on_message=self._on_message,
        )

    def contiguous(self, station_id: str) -> int:
        n = 0
        while (station_id, n + 1) in self.events:
            n += 1
        return n

    async def _on_message(self, msg: Incoming) -> None:
        if self.paused:
            return
        batch = decode(EventBatch, msg.payload)
        self.batches += 1
        for e in batch.events:
            key = (batch.station_id, e.station_seq)
            if key in self.events:
                self.duplicates += 1
            else:
                self.events[key] = e.model_dump(mode="json")
        self.changed.set()
        if not self.send_acks:
            return
        ack = Ack(
            station_id=batch.station_id,
            acked_through=self.contiguous(batch.station_id),
            central_time=datetime.now(UTC),
            central_hlc=self.hlc.now().to_text(),
        )
        try:
            await self.link.publish(self.topics.station(batch.station_id, "ack"), encode(ack))
        except (MqttNotConnected, TimeoutError):
            # The broker went away between the batch and its ack (the tests kill it on
            # purpose): like central, leave it to the station to send the batch again.
            return
        self.changed.set()

    async def publish_retained(self, topic: str, payload: bytes) -> None:
        await self.link.publish(topic, payload, qos=1, retain=True)

    async def wait_for(self, station_id: str, through: int, within: float = 30) -> None:
        """Wait until events 1..through of the station are recorded."""
        async with asyncio.timeout(within):
            while self.contiguous(station_id) < through:
                self.changed.clear()
                await self.changed.wait()


class DaemonProcess:
    """`python -m edge --config FILE` as a child process the test can tap, TERM and kill -9."""

    def __init__(
        self,
        workdir: Path,
        broker_port: int,
        topic_root: str,
        *,
        python: str = sys.executable,
        **extra: object,
    ) -> None:
        self.python = python  # another venv's interpreter runs the daemon from its install
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "daemon.log"
        key = workdir / "site.key"
        key.write_text(format_site_key(SITE_KEY), encoding="ascii")
        key.chmod(0o600)  # the daemon refuses a key other users can read
        doc: dict[str, object] = {
            "station_id": "st-1",
            "location_node": "st-1",
            "data_dir": str(self.data_dir),
            "site_key_file": str(key),
            "screen_idle_s": 1.0,
            "http": {"port": 0},
            "mqtt": {
                "port": broker_port,
                "topic_root": topic_root,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1,
                "keepalive_s": 5,
            },
            "sync": {"resend_timeout_s": 2.0},
            "readers": [{"type": "simulated", "debounce_s": 0}],
            "log": {"level": "DEBUG"},
        }
        doc.update(extra)
        self.config_path = workdir / "station.toml"
        self.config_path.write_text(tomli_w.dumps(doc))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 20, env: dict[str, str] | None = None) -> None:
        port_file = self.data_dir / "http.port"
        port_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.python, "-m", "edge", "--config", str(self.config_path)],
                stdout=log,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited {self.process.returncode}: {self.log()}")
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                return
            time.sleep(0.02)
        raise TimeoutError(f"daemon did not start: {self.log()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def tap(self, card_uid: str) -> tuple[int, dict[str, object]]:
        """POST a tap; returns (status, body) once the daemon has shown its screen."""
        # Every URL here is built by `url()`: http on loopback, never a user-given scheme.
        req = urllib.request.Request(  # noqa: S310
            self.url("/api/v1/tap"),
            data=json.dumps({"uid": card_uid}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def post_raw(self, path: str, body: bytes) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url(path), data=body, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as resp:  # noqa: S310
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
