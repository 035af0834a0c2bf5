"""A full disk on the station: taps are refused openly with an alarm; nothing accepted is lost.

Runs the daemon on a real, tiny tmpfs (needs root to mount; skipped otherwise; the unit test
in test_edge_station.py covers the same path with SQLite's max_page_count everywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from protocol.codec import encode
from tests.support.edge_world import DaemonProcess, FakeCentral, cards, config, lease, rooms, uid

pytestmark = pytest.mark.fault


@pytest.fixture
def tiny_disk(tmp_path: Path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path: Path) -> None:
    """Write until the file system refuses."""
    with contextlib.suppress(OSError), path.open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())


async def test_disk_full_refuses_taps_with_an_alarm_and_loses_nothing(
    tmp_path, tiny_disk, broker, topics
):
    central = FakeCentral(broker.port, topics)
    daemon = DaemonProcess(tmp_path, broker.port, topics.root, data_dir=str(tiny_disk / "data"))
    daemon.data_dir = tiny_disk / "data"
    accepted: list[str] = []
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        for doc in (rooms(), config(low_water=1), cards(400)):
            await central.publish_retained(topics.directory(doc.kind), encode(doc))
        await central.publish_retained(
            topics.station("st-1", "lease"),
            encode(lease("st-1", 1, [("l1", "xray-1", 1, 9000)])),
        )
        central.paused = True  # nothing gets acked: every accepted tap stays in the outbox
        await asyncio.to_thread(daemon.start)
        try:
            for i in range(1, 6):
                status, _ = await asyncio.to_thread(daemon.tap, uid(i))
                assert status == 200
                accepted.append(uid(i))
            filler = tiny_disk / "filler"
            await asyncio.to_thread(fill, filler)
            refused = None
            for i in range(6, 400):
                status, body = await asyncio.to_thread(daemon.tap, uid(i))
                if status == 503:
                    refused = body
                    break
                assert status == 200, body
                accepted.append(uid(i))
            assert refused is not None, "the full disk never refused a tap"
            assert refused["kind"] == "refused"
            assert "reception" in json.dumps(refused["message"])
            status, health = await asyncio.to_thread(daemon.get, "/healthz")
            assert status == 503
            assert "disk_full" in json.loads(health)["alarms"]
            # Space comes back: the station takes taps again and the alarm clears.
            filler.unlink()
            status, body = await asyncio.to_thread(daemon.tap, uid(399))
            assert status == 200, body
            accepted.append(uid(399))
            status, health = await asyncio.to_thread(daemon.get, "/healthz")
            assert status == 200
            central.paused = False
            await central.wait_for("st-1", len(accepted), within=30)
        finally:
            code = await asyncio.to_thread(daemon.terminate)
        assert code == 0, daemon.log()
        ct.cancel()
    events = [e for (sid, _), e in central.events.items() if sid == "st-1"]
    assert len(events) == len(accepted)
    assert "tap.refused" in daemon.log()
