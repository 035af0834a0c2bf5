"""The kiosk under systemd: READY=1 after the first frame, WATCHDOG=1 from the Qt event loop
at half of $WATCHDOG_USEC, STOPPING=1 on SIGTERM (a real unix datagram socket, a real
Mosquitto, `python -m kiosk_ui` with Qt offscreen)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import tomli_w

pytestmark = [pytest.mark.integration, pytest.mark.qt]


def _kiosk(tmp_path, broker_port: int, topic_root: str, env: dict[str, str]) -> subprocess.Popen:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "room_id": "xray-1",
                "fullscreen": False,
                "speech": "off",
                "muted": True,
                "cache_dir": str(tmp_path / "cache"),
                "mqtt": {"port": broker_port, "topic_root": topic_root},
            }
        )
    )
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk_ui", "--config", str(config)],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _datagrams(sock: socket.socket, until: bytes, limit_s: float = 20) -> list[tuple[float, bytes]]:
    got = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(100)
        got.append((time.monotonic(), data))
        if data == until:
            return got
    raise AssertionError(f"no {until!r} within {limit_s} s: {got}")


def test_ready_after_first_frame_watchdog_pings_and_stopping(tmp_path, broker, topic_root):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    env = {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}
    proc = _kiosk(tmp_path, broker.port, topic_root, env)
    try:
        first = _datagrams(sock, b"READY=1")
        assert [d for _, d in first] == [b"READY=1"]
        pings = []
        while len(pings) < 4:
            pings += [t for t, d in _datagrams(sock, b"WATCHDOG=1", 5) if d == b"WATCHDOG=1"]
        # The first ping goes right after READY=1; the timer's follow every 200 ms.
        gaps = [b - a for a, b in itertools.pairwise(pings[1:])]
        # Half of 400 ms: well inside the watchdog period, not a busy loop.
        assert all(0.1 < g < 0.4 for g in gaps), gaps
        proc.send_signal(signal.SIGTERM)
        _datagrams(sock, b"STOPPING=1")
        assert proc.wait(20) == 0
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_no_watchdog_for_another_process_only_ready(tmp_path, broker, topic_root):
    # WATCHDOG_PID names another process (systemd's rule): READY=1 but no pings.
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    env = {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    proc = _kiosk(tmp_path, broker.port, topic_root, env)
    try:
        _datagrams(sock, b"READY=1")
        # Watched for a second (five watchdog periods): nothing but STOPPING=1 may follow.
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        rest = _datagrams(sock, b"STOPPING=1")
        assert [d for _, d in rest] == [b"STOPPING=1"]
        assert proc.wait(20) == 0
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
