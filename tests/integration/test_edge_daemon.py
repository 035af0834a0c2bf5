"""The station daemon as a process: local tap API, screen WebSocket, health, metrics,
ordered shutdown, crash exit code, and no plaintext UID anywhere on the station."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import aiohttp
import pytest

from edge.config import EdgeConfig
from edge.daemon import Daemon
from edge.readers.base import OnRead
from protocol.codec import decode, encode
from protocol.ids import card_hash, format_site_key
from protocol.messages import ReaderHealth, StationScreen, StationStatus
from protocol.mqtt import Incoming, MqttLink
from protocol.settings import MqttSettings
from tests.support.edge_world import (
    DaemonProcess,
    FakeCentral,
    cards,
    config,
    lease,
    rooms,
    routes,
    uid,
)
from tests.support.factories import SITE_KEY

pytestmark = pytest.mark.integration


async def publish_world(central: FakeCentral, topics) -> None:
    for doc in (rooms(), config(), routes(), cards(20)):
        await central.publish_retained(topics.directory(doc.kind), encode(doc))
    await central.publish_retained(
        topics.station("st-1", "lease"), encode(lease("st-1", 1, [("l1", "xray-1", 1, 500)]))
    )


async def next_screen(ws: aiohttp.ClientWebSocketResponse, kind: str) -> StationScreen:
    async with asyncio.timeout(15):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            screen = decode(StationScreen, msg.data)
            if screen.kind == kind:
                return screen


async def test_daemon_taps_screens_sync_health_and_ordered_shutdown(tmp_path, broker, topics):
    central = FakeCentral(broker.port, topics)
    statuses: list[StationStatus] = []
    got_status = asyncio.Event()

    async def on_status(msg: Incoming) -> None:
        statuses.append(decode(StationStatus, msg.payload))
        got_status.set()

    watcher = MqttLink(
        MqttSettings(port=broker.port),
        "watcher",
        subscriptions=[(topics.station("st-1", "status"), 1)],
        on_message=on_status,
    )
    daemon = DaemonProcess(tmp_path, broker.port, topics.root)
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        wt = tg.create_task(watcher.run(), name="watcher")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        await publish_world(central, topics)
        await asyncio.to_thread(daemon.start)
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(daemon.url("/api/v1/screen")) as ws,
            ):
                first = decode(StationScreen, (await ws.receive()).data)
                assert first.kind == "idle"
                # The daemon needs the retained directory before a known card checks in.
                async with asyncio.timeout(15):
                    while True:
                        status, body = await asyncio.to_thread(daemon.tap, uid(1))
                        assert status == 200, body
                        if body["kind"] == "checked_in":
                            break
                        await asyncio.sleep(0.1)
                shown = await next_screen(ws, "checked_in")
                assert shown.ticket_number == body["ticket_number"]
                assert shown.route is not None
                assert shown.phone_url == "https://h.example/p/v/v1"
                await next_screen(ws, "idle")  # back to idle after screen_idle_s
                # The CLI talks to the same daemon.
                cli = await asyncio.to_thread(
                    subprocess.run,
                    [
                        sys.executable,
                        "-m",
                        "nfc_hospital",
                        "edge",
                        "tap",
                        uid(1),
                        "--config",
                        str(daemon.config_path),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert cli.returncode == 0, cli.stderr
                assert '"kind":"already_waiting"' in cli.stdout
                assert (await next_screen(ws, "already_waiting")).ticket_number == 1
                status, body = await asyncio.to_thread(daemon.tap, "not-a-uid")
                assert status == 400
                assert body["kind"] == "read_error"
                await next_screen(ws, "read_error")
            await central.wait_for("st-1", 2)
            assert central.events[("st-1", 1)]["kind"] == "check_in"
            assert central.events[("st-1", 2)]["outcome"] == "already_waiting"
            status, health = await asyncio.to_thread(daemon.get, "/healthz")
            assert status == 200
            assert b'"status":"ok"' in health.replace(b" ", b"")
            status, metrics = await asyncio.to_thread(daemon.get, "/metrics")
            assert status == 200
            assert b"nfch_edge_tap_latency_seconds_count" in metrics
            assert b'nfch_edge_reader_errors_total{reader="simulated",reason="bad_uid"} 1.0' in (
                metrics
            )
        finally:
            code = await asyncio.to_thread(daemon.terminate)
        assert code == 0, daemon.log()
        log = daemon.log()
        steps = [
            "daemon.shutdown step=readers",
            "daemon.shutdown step=status_offline",
            "daemon.shutdown step=store",
            "daemon.stopped",
        ]
        positions = [log.index(s) for s in steps]
        assert positions == sorted(positions)
        async with asyncio.timeout(10):
            while not statuses or statuses[-1].online:
                got_status.clear()
                await got_status.wait()
        ct.cancel()
        wt.cancel()


async def test_no_plaintext_uid_in_the_database_or_the_log(tmp_path, broker, topics):
    central = FakeCentral(broker.port, topics)
    daemon = DaemonProcess(tmp_path, broker.port, topics.root)
    tapped = [uid(i) for i in (1, 2, 3)] + ["04DEADBEEF1234", "A1B2C3D4"]
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        await publish_world(central, topics)
        await asyncio.to_thread(daemon.start)
        try:
            for u in tapped:
                status, _ = await asyncio.to_thread(daemon.tap, u)
                assert status == 200
            # Spellings a driver or a user might type are normalized, never kept either.
            await asyncio.to_thread(daemon.tap, "04:de:ad:be:ef:12:34")
        finally:
            assert await asyncio.to_thread(daemon.terminate) == 0
        ct.cancel()
    blobs = [p.read_bytes() for p in daemon.data_dir.iterdir() if p.is_file()]
    blobs.append(daemon.log().encode())
    everything = b"\n".join(blobs)
    # The scan can find things: the keyed hashes are there.
    assert card_hash(SITE_KEY, tapped[0]).encode() in everything
    for u in tapped:
        for spelling in (u, u.lower(), ":".join(u[i : i + 2] for i in range(0, len(u), 2))):
            assert spelling.encode() not in everything, spelling
            assert spelling.lower().encode() not in everything.lower(), spelling


class CrashingReader:
    name = "crashy"
    driver = "simulated"

    async def run(self, on_read: OnRead) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("driver bug")

    def health(self) -> ReaderHealth:
        return ReaderHealth(name=self.name, driver=self.driver, status="error")


async def test_a_crashed_essential_task_exits_non_zero(tmp_path, broker, topics):
    key = tmp_path / "site.key"
    key.write_text(format_site_key(SITE_KEY), encoding="ascii")
    key.chmod(0o600)  # the daemon refuses a key other users can read
    cfg = EdgeConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "site_key_file": str(key),
            "http": {"port": 0},
            "mqtt": {"port": broker.port, "topic_root": topics.root},
        }
    )
    daemon = Daemon(cfg)
    daemon.readers.append((CrashingReader(), daemon.readers[0][1]))
    assert await asyncio.wait_for(daemon.run(), 20) == 1


async def test_sd_notify_ready_watchdog_stopping_and_bad_tap_bodies(tmp_path, broker, topics):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    daemon = DaemonProcess(tmp_path, broker.port, topics.root)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000"}
    try:
        await asyncio.to_thread(daemon.start, 20, env)
        seen: set[bytes] = set()
        while not {b"READY=1", b"WATCHDOG=1"} <= seen:
            seen.add(await asyncio.to_thread(sock.recv, 100))
        for body, reason in (
            (b"not json", "not_json"),
            (b'{"card": "04A1B2C3"}', "no_uid"),
            (b"x" * 5000, "too_large"),
        ):
            status, answer = await asyncio.to_thread(daemon.post_raw, "/api/v1/tap", body)
            assert status == 400, answer
            assert b"BadTapError" in answer
            _, metrics = await asyncio.to_thread(daemon.get, "/metrics")
            assert f'reason="{reason}",source="http_tap"'.encode() in metrics
        assert await asyncio.to_thread(daemon.terminate) == 0
        while b"STOPPING=1" not in seen:
            seen.add(await asyncio.to_thread(sock.recv, 100))
    finally:
        sock.close()
        daemon.kill()
