"""Station crash consistency beyond kill -9 (which test_edge_kill9.py and the storm cover):

- a corrupted station database file (garbled while the daemon is stopped) must be detected,
  moved aside, and the station must re-sync from central's retained documents;
- the station's wall clock jumps back and forth by hours during a stream of taps: every tap
  still reaches central exactly once and the station's hybrid logical clock never goes back.

The daemon has no fake-time switch, so the clock test shifts `time.time` in the daemon
process from a `sitecustomize` module on PYTHONPATH (before any edge module binds it), with
the offset read from a file the test rewrites.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import pytest

from protocol.codec import encode
from protocol.hlc import HLCTimestamp
from tests.support.cluster import Cluster, StormPlan, run_storm
from tests.support.edge_world import DaemonProcess, FakeCentral, cards, config, lease, rooms, uid
from tests.support.history import central_events, check

pytestmark = pytest.mark.fault


async def _tap_until(daemon: DaemonProcess, card: str, kind: str, limit_s: float = 20) -> None:
    """Tap until the screen is `kind` (the cards directory arrives asynchronously)."""
    deadline = time.monotonic() + limit_s
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        status, body = await asyncio.to_thread(daemon.tap, card)
        if status == 200 and body.get("kind") == kind:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"tap of {card} never showed {kind}: {body}")


async def test_corrupt_station_database_is_moved_aside_and_resynced(tmp_path, broker, topics):
    central = FakeCentral(broker.port, topics)
    daemon = DaemonProcess(tmp_path, broker.port, topics.root, log={"level": "INFO"})
    db = daemon.data_dir / "station.sqlite3"
    try:
        async with asyncio.TaskGroup() as tg:
            ct = tg.create_task(central.link.run(), name="central")
            await asyncio.wait_for(central.link.subscribed.wait(), 10)
            for doc in (rooms(), config(low_water=1), cards(20)):
                await central.publish_retained(topics.directory(doc.kind), encode(doc))
            await central.publish_retained(
                topics.station("st-1", "lease"),
                encode(lease("st-1", 1, [("l1", "xray-1", 1, 9000)])),
            )
            await asyncio.to_thread(daemon.start)
            await _tap_until(daemon, uid(1), "checked_in")
            await central.wait_for("st-1", 1)
            assert await asyncio.to_thread(daemon.terminate) == 0
            # Garble the header and the first pages: SQLite no longer sees a database.
            with db.open("r+b") as f:
                f.write(b"\x5a" * 8192)
            await asyncio.to_thread(daemon.start)
            status, body = await asyncio.to_thread(daemon.get, "/healthz")
            assert status == 200, body
            aside = [p for p in daemon.data_dir.iterdir() if "corrupt" in p.name]
            assert aside, "the corrupt file was not kept for a technician"
            # The header is gone, so nothing could be salvaged: both said in status and log.
            assert {"db_recovered", "db_salvage_failed"} <= set(json.loads(body)["alarms"])
            assert "store.corrupt_moved_aside" in daemon.log()
            # Re-synced from the retained documents: a known card checks in again.
            await _tap_until(daemon, uid(2), "checked_in")
            # Its events go above central's watermark, not over seq 1.
            await central.wait_for("st-1", 2)
            ct.cancel()
    finally:
        daemon.kill()


SITECUSTOMIZE = """
import os
import time as _time

_path = os.environ.get("NFCH_TEST_CLOCK_OFFSET_FILE")
if _path:
    _real = _time.time
    _state = {"offset": 0.0, "checked": 0.0}

    def _shifted() -> float:
        now = _real()
        mono = _time.monotonic()
        if mono - _state["checked"] > 0.02:
            _state["checked"] = mono
            try:
                with open(_path) as f:
                    _state["offset"] = float(f.read().strip() or 0)
            except (OSError, ValueError):
                pass
        return now + _state["offset"]

    _time.time = _shifted
"""


def test_station_clock_jumps_during_a_stream(tmp_path, broker, topic_root):
    shim = tmp_path / "clockshim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
    offset_file = tmp_path / "clock-offset"
    offset_file.write_text("0")
    cluster = Cluster(tmp_path / "cluster", broker, topic_root, stations=2, patients=40)
    shifted = "st-lobby"
    cluster.station_env[shifted] = {
        "PYTHONPATH": str(shim),
        "NFCH_TEST_CLOCK_OFFSET_FILE": str(offset_file),
    }
    jumps = [-3600.0, 7200.0, -86400.0 / 4, 600.0, 0.0]
    done = threading.Event()

    def jump() -> None:
        for offset in jumps:
            if done.wait(1.0):
                return
            offset_file.write_text(str(offset))

    plan = StormPlan(taps=200, seed=4, broker_kills=False, station_kills=False, central_kill=False)
    jumper = threading.Thread(target=jump, name="clock-jumper")
    try:
        cluster.start()
        jumper.start()
        result = run_storm(cluster, plan)
        done.set()
        jumper.join()
        report = check(result.history, cluster.central_db, cluster.station_dbs)
        log = cluster.stations[shifted].daemon.log()
    finally:
        done.set()
        cluster.close()
    assert not report.problems, f"{report.summary()}\n" + "\n".join(report.problems)
    assert report.ok == plan.taps
    events = [e for e in central_events(cluster.central_db) if e.station_id == shifted]
    hlcs = [HLCTimestamp.from_text(str(e.payload["hlc"])) for e in events]
    assert all(a < b for a, b in itertools.pairwise(hlcs)), "the HLC went back"
    # The jumps really reached the daemon: its wall times went back by hours at least once.
    walls = [str(e.payload["wall_time"]) for e in events]
    assert any(b < a for a, b in itertools.pairwise(walls)), (
        "the station's wall clock never went back; the shim did not take",
        json.dumps(walls[:5]),
        log[-2000:],
    )
