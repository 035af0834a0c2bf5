"""`nfc-hospital bench tap-latency`: tap-to-feedback latency of the station, online and offline.

Each tap is timed from the moment the driver hands over the UID (`CardRead.read_at_monotonic`)
to the moment the screen is issued: keyed hash, local decision, the `synchronous=FULL` outbox
transaction, and the screen pushed to the feed. Online, the station's MQTT sync runs at the
same time against a private Mosquitto with a stand-in for central acking every batch; offline,
there is no broker at all. With `--rss`, the daemon is also run as a process (optionally by
another venv's interpreter, `--daemon-python`, e.g. one with only the station's extras) with a
broker and a stand-in central that publishes a directory of `--rss-cards` visits (10,000 by
default): its resident memory is read once it runs, once the directory is applied, after
`--rss-taps` taps over HTTP, and after a restart that loads the directory from its own cache.

Needs a source checkout (the stand-in central lives in tests/support) and mosquitto.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge.config import EdgeConfig
from edge.readers.base import CardRead
from edge.station import Station
from edge.store.db import StationStore
from edge.sync import Syncer
from protocol.codec import encode
from protocol.topics import Topics

# The stand-in central and the broker runner are test support code (tests/support), outside
# the packaged code and mypy's scope: loaded by name so this bench type-checks on its own.
_world: Any = importlib.import_module("tests.support.edge_world")
_mosquitto: Any = importlib.import_module("tests.support.mosquitto")
SITE_KEY: bytes = _world.SITE_KEY
MosquittoBroker = _mosquitto.MosquittoBroker
DaemonProcess = _world.DaemonProcess
FakeCentral = _world.FakeCentral
cards = _world.cards
config = _world.config
lease = _world.lease
rooms = _world.rooms
routes = _world.routes
uid = _world.uid


def _q(samples_s: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return q[49], q[98], ms[-1]


def _station(workdir: Path, port: int, root: str) -> tuple[Station, Syncer]:
    cfg = EdgeConfig.model_validate(
        {
            "station_id": "st-1",
            "data_dir": str(workdir),
            "mqtt": {"port": port, "topic_root": root, "reconnect_min_s": 0.2},
        }
    )
    store = StationStore(workdir / "station.sqlite3")
    station = Station("st-1", store, SITE_KEY, location_node="st-1")
    # The same cached world online and offline: rooms, routes, today's cards, a big lease.
    for doc in (rooms(), config(low_water=1), routes()):
        station.apply_directory(doc, encode(doc).decode())
    return station, Syncer(cfg, station)


def _load_cards(station: Station, n: int) -> None:
    doc = cards(n)
    station.apply_directory(doc, encode(doc).decode())
    station.apply_lease(lease("st-1", 1, [("l1", "xray-1", 1, 99999)]))


async def _taps(station: Station, n: int) -> list[float]:
    samples = []
    for i in range(1, n + 1):
        read = CardRead(uid(i), "bench", "simulated", time.monotonic())
        await station.on_read(read)
        samples.append(time.monotonic() - read.read_at_monotonic)
        # Patients arrive one at a time: let the sender and the link run between taps.
        await asyncio.sleep(0.001)
    return samples


async def _online(workdir: Path, n: int) -> tuple[list[float], int]:
    broker = MosquittoBroker(workdir / "mosquitto")
    broker.start()
    try:
        topics = Topics("bench/nfch")
        central = FakeCentral(broker.port, topics)
        station, syncer = _station(workdir / "online", broker.port, topics.root)
        _load_cards(station, n)
        async with asyncio.TaskGroup() as tg:
            ct = tg.create_task(central.link.run(), name="central")
            st = tg.create_task(syncer.run(), name="station-sync")
            await asyncio.wait_for(syncer.link.connected.wait(), 10)
            await asyncio.wait_for(central.link.subscribed.wait(), 10)
            samples = await _taps(station, n)
            await central.wait_for("st-1", station.next_seq - 1, within=60)
            async with asyncio.timeout(30):
                while station.outbox_depth:  # noqa: ASYNC110 - polled with a deadline
                    await asyncio.sleep(0.01)
            acked = station.acked_through
            st.cancel()
            ct.cancel()
        station.store.close()
        return samples, acked
    finally:
        broker.close()


async def _offline(workdir: Path, n: int) -> list[float]:
    station, _syncer = _station(workdir / "offline", 1, "bench/nfch")
    _load_cards(station, n)
    samples = await _taps(station, n)
    station.store.close()
    return samples


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


async def _settled_rss_kb(daemon: Any, settle_s: float = 2.0) -> int:
    """The daemon's RSS once it has been idle a moment (its start-up work done)."""
    await asyncio.sleep(settle_s)
    assert daemon.process is not None
    return _rss_kb(daemon.process.pid)


async def _daemon_rss(workdir: Path, taps: int, n_cards: int, python: str) -> list[tuple[str, int]]:
    """RSS (kB) of `python -m edge` at each stage, with a broker and a day of `n_cards` visits."""
    broker = MosquittoBroker(workdir / "mosquitto-rss")
    broker.start()
    topics = Topics("bench/nfch")
    central = FakeCentral(broker.port, topics, client_id="bench-rss-central")
    rss_dir = workdir / "rss"
    rss_dir.mkdir()
    daemon = DaemonProcess(rss_dir, broker.port, topics.root, python=python, log={"level": "INFO"})
    out: list[tuple[str, int]] = []
    try:
        async with asyncio.TaskGroup() as tg:
            ct = tg.create_task(central.link.run(), name="central")
            await asyncio.wait_for(central.link.subscribed.wait(), 10)
            await asyncio.to_thread(daemon.start)
            out.append(("started, no directory yet", await _settled_rss_kb(daemon)))
            for doc in (rooms(), config(low_water=1), routes(), cards(n_cards)):
                await central.publish_retained(topics.directory(doc.kind), encode(doc))
            await central.publish_retained(
                topics.station("st-1", "lease"),
                encode(lease("st-1", 1, [("l1", "xray-1", 1, 99999)])),
            )
            # The directory is applied once the last card of the day is known.
            probe = uid(n_cards)
            async with asyncio.timeout(120):
                while True:
                    _, shown = await asyncio.to_thread(daemon.tap, probe)
                    if shown.get("kind") == "checked_in":
                        break
                    await asyncio.sleep(0.2)
            out.append((f"directory of {n_cards} visits applied", await _settled_rss_kb(daemon)))
            for i in range(1, taps + 1):
                await asyncio.to_thread(daemon.tap, uid(i))
            await central.wait_for("st-1", 1, within=30)
            out.append((f"after {taps} taps over HTTP", await _settled_rss_kb(daemon)))
            out.append(("  peak so far (VmHWM)", _rss_kb(daemon.process.pid, "VmHWM")))
            await asyncio.to_thread(daemon.terminate)
            await asyncio.to_thread(daemon.start)
            out.append(("restarted, directory from its cache", await _settled_rss_kb(daemon)))
            out.append(("  peak since restart (VmHWM)", _rss_kb(daemon.process.pid, "VmHWM")))
            ct.cancel()
        return out
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.terminate()
        broker.close()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nfc-hospital bench tap-latency")
    parser.add_argument("--taps", type=int, default=2000, help="taps per mode (default 2000)")
    parser.add_argument("--rss", action="store_true", help="also measure the daemon's RSS")
    parser.add_argument("--rss-taps", type=int, default=2000, help="taps before reading RSS")
    parser.add_argument(
        "--rss-cards", type=int, default=10_000, help="visits in the day's directory (10000)"
    )
    parser.add_argument(
        "--daemon-python",
        default=sys.executable,
        help="interpreter that runs the daemon for --rss (e.g. an edge-only venv's python)",
    )
    parser.add_argument("--rss-only", action="store_true", help="skip the latency runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp:
        workdir = Path(tmp)
        if args.rss or args.rss_only:
            stages = asyncio.run(
                _daemon_rss(workdir, args.rss_taps, args.rss_cards, args.daemon_python)
            )
            print(f"daemon RSS ({args.daemon_python} -m edge, VmRSS after 2 s idle):")
            for stage, kb in stages:
                print(f"  {stage:<40} {kb / 1024:6.1f} MB")
        if args.rss_only:
            return 0
        online, acked = asyncio.run(_online(workdir, args.taps))
        offline = asyncio.run(_offline(workdir, args.taps))
        on50, on99, onmax = _q(online)
        off50, off99, offmax = _q(offline)
        print(f"tap-to-feedback latency, {args.taps} taps each (durable outbox write included)")
        print(
            f"  online   p50={on50:6.2f} ms  p99={on99:6.2f} ms  max={onmax:6.2f} ms  "
            f"(events acked by the stand-in central: {acked})"
        )
        print(f"  offline  p50={off50:6.2f} ms  p99={off99:6.2f} ms  max={offmax:6.2f} ms")
        print(f"  offline/online ratio: p50 {off50 / on50:.2f}  p99 {off99 / on99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
