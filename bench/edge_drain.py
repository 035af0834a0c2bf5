"""`nfc-hospital bench edge-drain`: catch-up after an outage.

A station records N taps (default 10,000) with no broker; then a private Mosquitto and a
stand-in for central (tests/support/edge_world.FakeCentral: records each (station, seq) once,
counts duplicates, acks the contiguous prefix) come up, and the station's sync drains the
outbox. Reported: drain rate (first connect to the last ack), losses, duplicates, batches.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
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
FakeCentral = _world.FakeCentral
cards = _world.cards
config = _world.config
lease = _world.lease
rooms = _world.rooms
uid = _world.uid


async def _drain(workdir: Path, n: int, batch_size: int, inflight: int) -> int:
    broker = MosquittoBroker(workdir / "mosquitto")
    topics = Topics("bench/nfch")
    cfg = EdgeConfig.model_validate(
        {
            "station_id": "st-1",
            "data_dir": str(workdir / "station"),
            "mqtt": {"port": broker.port, "topic_root": topics.root, "reconnect_min_s": 0.2},
            "sync": {"batch_size": batch_size, "inflight_batches": inflight},
        }
    )
    station = Station("st-1", StationStore(cfg.data_dir / "station.sqlite3"), SITE_KEY)
    for doc in (rooms(), config(low_water=1), cards(min(n, 50000))):
        station.apply_directory(doc, encode(doc).decode())
    station.apply_lease(lease("st-1", 1, [("l1", "xray-1", 1, 99999)]))
    t0 = time.monotonic()
    for i in range(1, n + 1):
        station.handle_read(CardRead(uid(i), "bench", "simulated", time.monotonic()))
    recorded = time.monotonic() - t0
    total = station.next_seq - 1
    print(
        f"offline: {total} events recorded in {recorded:.1f} s; outbox depth {station.outbox_depth}"
    )
    broker.start()
    try:
        central = FakeCentral(broker.port, topics)
        syncer = Syncer(cfg, station)
        async with asyncio.TaskGroup() as tg:
            ct = tg.create_task(central.link.run(), name="central")
            await asyncio.wait_for(central.link.subscribed.wait(), 10)
            st = tg.create_task(syncer.run(), name="station-sync")
            await asyncio.wait_for(syncer.link.connected.wait(), 10)
            t1 = time.monotonic()
            await central.wait_for("st-1", total, within=300)
            async with asyncio.timeout(60):
                while station.outbox_depth:  # noqa: ASYNC110 - polled with a deadline
                    await asyncio.sleep(0.005)
            elapsed = time.monotonic() - t1
            st.cancel()
            ct.cancel()
    finally:
        broker.close()
    got = [seq for (sid, seq) in central.events if sid == "st-1"]
    lost = total - len(got)
    print(
        f"drain: {total} events in {elapsed:.2f} s = {total / elapsed:,.0f} events/s "
        f"({syncer.batches_sent} batches of up to {batch_size}, {inflight} in flight)"
    )
    print(
        f"  lost={lost} duplicates_at_central={central.duplicates} "
        f"outbox_depth_after={station.outbox_depth}"
    )
    station.store.close()
    return 0 if lost == 0 and station.outbox_depth == 0 else 1


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nfc-hospital bench edge-drain")
    parser.add_argument("--events", type=int, default=10000, help="taps buffered offline")
    parser.add_argument("--batch-size", type=int, default=500, help="events per batch")
    parser.add_argument("--inflight", type=int, default=4, help="batches in flight")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        return asyncio.run(_drain(Path(tmp), args.events, args.batch_size, args.inflight))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
