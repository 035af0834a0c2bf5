"""Kiosk benchmark: snapshot published to Mosquitto -> repainted room board frame.

`nfc-hospital bench kiosk-latency [--updates N] [--port PORT]` prints:
- latency p50/p99/max over N snapshots (each published only after the previous one painted),
  measured from just before the publish call to the board's paint event for that version;
- the process's RSS after the run (and its peak);
- start to first frame of `nfc-hospital kiosk --room ...` in a fresh process, offscreen.

Without --port a private Mosquitto is started on a free port and stopped (by its PID) at the end.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _latency(port: int, updates: int, workdir: Path) -> dict[str, float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from PyQt6.QtCore import QCoreApplication, QEventLoop

    from kiosk_ui import demo
    from kiosk_ui.app import build_room_board, make_qapp
    from kiosk_ui.config import KioskConfig
    from protocol.codec import encode
    from protocol.settings import MqttSettings
    from protocol.topics import Topics

    root = f"bench{uuid.uuid4().hex[:6]}/nfch"
    config = KioskConfig(
        room_id=demo.ROOM_ID,
        cache_dir=workdir / "cache",
        fullscreen=False,
        muted=True,
        speech="off",
        mqtt=MqttSettings(port=port, topic_root=root),
    )
    app = make_qapp()
    kiosk = build_room_board(config)
    painted: dict[int, float] = {}
    kiosk.window.painted.connect(lambda v, t: painted.setdefault(v, t))
    kiosk.window.resize(1920, 1080)
    kiosk.window.show()
    up: list[bool] = []
    kiosk.feed.connectionChanged.connect(up.append)
    kiosk.start()

    def pump_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError("the board did not repaint in time")
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 5)

    pump_until(lambda: up[-1:] == [True])
    topic = Topics(root).room(demo.ROOM_ID, "queue")
    payloads = [
        encode(demo.snapshot(v, calling=100 + v % 800, waiting=8)) for v in range(1, updates + 1)
    ]
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-central")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    sent: dict[int, float] = {}
    try:
        for v, payload in enumerate(payloads, start=1):
            sent[v] = time.perf_counter()
            pub.publish(topic, payload, qos=1)
            pump_until(functools.partial(painted.__contains__, v))
    finally:
        pub.disconnect()
        pub.loop_stop()
        kiosk.stop()
    QCoreApplication.processEvents()
    lat = sorted((painted[v] - sent[v]) * 1000 for v in sent)
    return {
        "updates": len(lat),
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)],
        "max_ms": lat[-1],
        "rss_mb": _rss_kb("VmRSS") / 1024,
        "peak_rss_mb": _rss_kb("VmHWM") / 1024,
    }


def _first_frame(port: int, workdir: Path, runs: int) -> list[float]:
    env = dict(os.environ)
    env.update(
        {
            "QT_QPA_PLATFORM": "offscreen",
            "NFCH_KIOSK__MQTT__PORT": str(port),
            "NFCH_KIOSK__CACHE_DIR": str(workdir / "cache-start"),
            "NFCH_KIOSK__SPEECH": "off",
            "NFCH_KIOSK__LOG__LEVEL": "WARNING",
        }
    )
    cmd = [sys.executable, "-m", "kiosk_ui", "--room", "rad-xray-1", "--windowed"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*cmd, "--exit-after-first-frame"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("first_frame_ms="):
                times.append((time.perf_counter() - started) * 1000)
                break
        proc.wait(30)
    return times


def run(argv: list[str]) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="nfc-hospital bench kiosk-latency")
    parser.add_argument("--updates", type=int, default=1000, help="snapshots to publish")
    parser.add_argument("--starts", type=int, default=5, help="cold starts to time")
    parser.add_argument("--port", type=int, help="an existing broker (default: start one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as tmp:
        workdir = Path(tmp)
        broker: subprocess.Popen[bytes] | None = None
        port = args.port
        if port is None:
            broker, port = _start_mosquitto(workdir)
        try:
            starts = _first_frame(port, workdir, args.starts)
            figures = _latency(port, args.updates, workdir)
        finally:
            if broker is not None:
                broker.terminate()
                broker.wait(10)
    print(f"kiosk-latency updates={figures['updates']:.0f}")
    print(f"  snapshot->frame p50={figures['p50_ms']:.1f} ms")
    print(f"  snapshot->frame p99={figures['p99_ms']:.1f} ms (target <= 50)")
    print(f"  snapshot->frame max={figures['max_ms']:.1f} ms")
    print(f"  rss={figures['rss_mb']:.0f} MB peak={figures['peak_rss_mb']:.0f} MB (target <= 150)")
    if starts:
        print(
            f"  start->first frame median={statistics.median(starts):.0f} ms "
            f"max={max(starts):.0f} ms over {len(starts)} starts (target <= 2000)"
        )
    else:
        print("  start->first frame: the kiosk never printed its first frame")
        return 1
    return 0
