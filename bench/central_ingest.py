"""`nfc-hospital bench central-ingest`: station events through the real central path.

In one run on this machine, against a private Mosquitto:

1. raw relay: the same batch payloads published at QoS 1 to a subscriber that does nothing
   (the broker's ceiling for these messages on this machine);
2. ingest: the same kind of batches published to `nfc-hospital central` (a child process,
   SQLite file): bridge -> engine (one transaction per batch, synchronous=FULL) -> commit ->
   ack. Rate = events / (first publish -> last ack), for several batch sizes;
3. latency: single-event batches at a steady 200 events/s; time from publishing a check-in
   to receiving the first retained room snapshot that shows it (p50/p95/p99/max), received
   and decoded by a watcher in a process of its own (a kiosk is a device of its own), and
   split at the snapshot's build time (`generated_at`; one machine, one clock);
4. central's own figures from its /metrics: time per transaction, and how long batches
   waited for their transaction, transactions took and snapshots took after the commit.

Every event is a real check-in of a distinct visit of the sample hospital (seeded with enough
patients), so every event changes a queue and a snapshot.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central.app import open_engine
from central.config import CentralConfig, ProcessSettings
from central.seed import sample_hospital
from protocol.codec import decode, encode
from protocol.config import render_config
from protocol.hlc import HybridLogicalClock
from protocol.ids import card_hash
from protocol.messages import Ack, CheckInEvent, EventBatch
from protocol.mqtt import Incoming, MqttLink
from protocol.settings import MqttSettings
from protocol.topics import Topics

# The broker runner is test support code (tests/support), outside the packaged code and
# mypy's scope: loaded by name, as the other benchmarks do.
_mosquitto: Any = importlib.import_module("tests.support.mosquitto")
_ports: Any = importlib.import_module("tests.support.ports")


def _settings(port: int, root: str) -> MqttSettings:
    return MqttSettings(port=port, topic_root=root, reconnect_min_s=0.2, keepalive_s=30)


class _Station:
    """One simulated station: its events, its link, the acks it got."""

    def __init__(self, station_id: str, port: int, root: str) -> None:
        self.station_id = station_id
        self.topics = Topics(root)
        self.hlc = HybridLogicalClock(station_id)
        self.seq = 0
        self.acked_through = 0
        self.total = 0
        self.done = asyncio.Event()
        self.link = MqttLink(
            _settings(port, root),
            f"bench-{station_id}-{uuid.uuid4().hex[:6]}",
            subscriptions=[(self.topics.station(station_id, "ack"), 1)],
            on_message=self._on_ack,
            clean_start=True,
        )

    async def _on_ack(self, msg: Incoming) -> None:
        ack = decode(Ack, msg.payload)
        self.acked_through = max(self.acked_through, ack.acked_through)
        if self.acked_through >= self.total:
            self.done.set()

    def event(self, visit: Any, site_key: bytes, uid: str) -> CheckInEvent:
        self.seq += 1
        return CheckInEvent(
            kind="check_in",
            event_id=uuid.uuid4(),
            station_seq=self.seq,
            hlc=self.hlc.now().to_text(),
            wall_time=datetime.now(UTC),
            card_hash=card_hash(site_key, uid),
            visit_id=visit.visit_id,
            room_id=visit.steps[0].room_id,
            step_index=0,
            service_day=visit.service_day,
            ticket_number=None,
        )

    def batches(
        self, visits: list[Any], site_key: bytes, uids: dict[str, str], size: int
    ) -> list[bytes]:
        events = [self.event(v, site_key, uids[v.visit_id]) for v in visits]
        self.total = self.seq
        self.done.clear()
        out = []
        for i in range(0, len(events), size):
            batch = EventBatch(
                station_id=self.station_id,
                sent_at=datetime.now(UTC),
                events=events[i : i + size],
            )
            out.append(encode(batch))
        return out


async def _publish_all(link: MqttLink, topic: str, payloads: list[bytes], window: int) -> None:
    # Keep `window` publishes awaiting PUBACK at a time (paho allows 100 in flight).
    sem = asyncio.Semaphore(window)

    async def one(p: bytes) -> None:
        async with sem:
            await link.publish(topic, p, qos=1)

    await asyncio.gather(*(one(p) for p in payloads))


async def _raw_relay(port: int, payloads: dict[str, list[bytes]], events: int) -> float:
    """Events/s the broker relays at QoS 1 to a subscriber that only counts."""
    root = f"raw{uuid.uuid4().hex[:6]}/nfch"
    topics = Topics(root)
    expected = sum(len(p) for p in payloads.values())
    got = 0
    done = asyncio.Event()

    async def count(msg: Incoming) -> None:
        nonlocal got
        got += 1
        if got >= expected:
            done.set()

    sub = MqttLink(
        _settings(port, root),
        f"raw-sub-{uuid.uuid4().hex[:6]}",
        subscriptions=[(topics.station_filter("events"), 1)],
        on_message=count,
        clean_start=True,
    )
    pubs = {
        sid: MqttLink(_settings(port, root), f"raw-{sid}", clean_start=True) for sid in payloads
    }
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(sub.run(), name="raw-sub")]
        tasks += [tg.create_task(p.run(), name=f"raw-{s}") for s, p in pubs.items()]
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        for p in pubs.values():
            await asyncio.wait_for(p.connected.wait(), 10)
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                _publish_all(pubs[sid], topics.station(sid, "events"), ps, 50)
                for sid, ps in payloads.items()
            )
        )
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - t0
        for t in tasks:
            t.cancel()
    return events / elapsed


class _CentralProcess:
    def __init__(self, config: CentralConfig, workdir: Path) -> None:
        self.port = _ports.free_port()
        cfg = config.model_copy(update={"http": config.http.model_copy(update={"port": self.port})})
        self.path = workdir / "central.toml"
        self.path.write_text(render_config(cfg), encoding="utf-8")
        self.log = workdir / "central.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nfc_hospital", "central", "--config", str(self.path)],
                stdout=log,
                stderr=log,
            )

    async def wait_ready(self) -> None:
        import aiohttp

        async with asyncio.timeout(60), aiohttp.ClientSession() as http:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"central exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        healthy = (await r.json())["status"] == "ok"
                    # Measured once central is steady: the assistant's start-up warm-up
                    # (the Korean analyser, seconds of CPU) would otherwise fall in the runs.
                    async with http.get(f"http://127.0.0.1:{self.port}/metrics") as r:
                        warm = "nfch_central_assistant_ready 1.0" in await r.text()
                    if healthy and warm:
                        return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


async def _wait_for_startup_publish(port: int, root: str) -> None:
    """Until central's start-up round (every retained document, the cards directory last)
    has reached the broker: measure the steady state, not the start."""
    got = asyncio.Event()

    async def on_cards(msg: Incoming) -> None:
        got.set()

    link = MqttLink(
        _settings(port, root),
        f"bench-wait-{uuid.uuid4().hex[:6]}",
        subscriptions=[(Topics(root).directory("cards"), 1)],
        on_message=on_cards,
        clean_start=True,
    )
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(link.run(), name="bench-wait")
        await asyncio.wait_for(got.wait(), 60)
        task.cancel()


async def _central_breakdown(port: int) -> None:
    """Where central's time went, from its own /metrics."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("nfch_central_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    n = values.get("nfch_central_batch_apply_seconds_count", 0.0)
    total = values.get("nfch_central_batch_apply_seconds_sum", 0.0)
    batches = values.get('nfch_central_batches_total{outcome="applied"}', 0.0)
    snaps = values.get('nfch_central_mqtt_published_total{kind="snapshot"}', 0.0)
    cards = values.get('nfch_central_mqtt_published_total{kind="directory"}', 0.0)
    rounds = values.get("nfch_central_snapshot_build_seconds_count", 0.0)
    snap_s = values.get("nfch_central_snapshot_build_seconds_sum", 0.0)
    cards_n = values.get('nfch_central_directory_build_seconds_count{kind="cards"}', 0.0)
    cards_s = values.get('nfch_central_directory_build_seconds_sum{kind="cards"}', 0.0)
    if n:
        print(
            f"central: {batches:.0f} batches in {n:.0f} transactions, {total / n * 1000:.1f} ms "
            f"per transaction (apply_batch incl. commit), {total:.1f} s in total; "
            f"{snaps:.0f} snapshots read in {rounds:.0f} rounds, {snap_s:.1f} s in total; "
            f"cards directory built {cards_n:.0f} times, {cards_s:.1f} s in total; "
            f"{cards:.0f} directory documents published"
        )
    for metric, what in (
        ("nfch_central_batch_wait_seconds", "batch waits (arrival -> transaction)"),
        ("nfch_central_batch_apply_seconds", "transactions"),
        ("nfch_central_snapshot_delay_seconds", "snapshot delays (commit -> MQTT)"),
        ("nfch_central_snapshot_build_seconds", "snapshot rounds"),
    ):
        print(f"central: {what} by duration: {_buckets(values, metric)}")


def _buckets(values: dict[str, float], metric: str) -> str:
    """A Prometheus histogram's counts per bucket ("<= 5 ms: 120, ..."), from /metrics."""
    prefix = f'{metric}_bucket{{le="'
    cumulative = sorted(
        (float(name[len(prefix) : -2]), count)
        for name, count in values.items()
        if name.startswith(prefix)
    )
    out, below = [], 0.0
    for le, count in cumulative:
        if count > below:
            label = "more" if le == float("inf") else f"<= {le * 1000:g} ms"
            out.append(f"{label}: {count - below:.0f}")
        below = count
    return ", ".join(out)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class _Seen:
    """What the watcher process saw of one check-in (clock readings of this machine)."""

    received: float  # time.perf_counter(): CLOCK_MONOTONIC, the same in every process
    received_wall: float  # time.time()
    built_wall: float  # the snapshot's generated_at: central's wall clock when built


def _watch_main(port: int, root: str, expect: dict[str, str], out: Any) -> None:
    """The kiosks' side of the latency run, in a process of its own (as a kiosk is a device
    of its own): every room snapshot decoded in full, each expected visit's first
    appearance timed. Sends "ready" once subscribed, then {visit_id: _Seen}."""
    asyncio.run(_watch(port, root, expect, out))


async def _watch(port: int, root: str, expect: dict[str, str], out: Any) -> None:
    by_room: dict[str, set[str]] = {}
    for visit_id, room_id in expect.items():
        by_room.setdefault(room_id, set()).add(visit_id)
    seen: dict[str, _Seen] = {}
    all_seen = asyncio.Event()

    async def on_snapshot(msg: Incoming) -> None:
        now, wall = time.perf_counter(), time.time()
        snap = json.loads(msg.payload)
        pending = by_room.get(snap["room_id"])
        if not pending:
            return
        shown = pending & {e["visit_id"] for e in snap["waiting"]}
        if shown:
            built = datetime.fromisoformat(snap["generated_at"]).timestamp()
            for visit_id in shown:
                seen[visit_id] = _Seen(now, wall, built)
            pending -= shown
        if len(seen) == len(expect):
            all_seen.set()

    watcher = MqttLink(
        _settings(port, root),
        f"bench-watch-{uuid.uuid4().hex[:6]}",
        subscriptions=[(Topics(root).room_filter("queue"), 1)],
        on_message=on_snapshot,
        clean_start=True,
    )
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(watcher.run(), name="watcher")
        await asyncio.wait_for(watcher.subscribed.wait(), 30)
        out.put("ready")
        try:
            await asyncio.wait_for(all_seen.wait(), 120)
        finally:
            out.put(seen)
            task.cancel()


async def _latency(
    port: int,
    root: str,
    station: _Station,
    visits: list[Any],
    key: bytes,
    uids: dict[str, str],
    rate: float,
) -> list[tuple[float, float, float]]:
    """Publish one check-in every 1/rate s from this process; a watcher process times each
    one's first snapshot. Per check-in, ms: (publish -> received, publish -> snapshot built,
    built -> received)."""
    expect = {v.visit_id: v.steps[0].room_id for v in visits}
    mp = multiprocessing.get_context("spawn")
    out = mp.Queue()
    proc = mp.Process(target=_watch_main, args=(port, root, expect, out), name="bench-watcher")
    proc.start()
    try:
        ready = await asyncio.to_thread(out.get, True, 60)
        assert ready == "ready", ready
        topic = Topics(root).station(station.station_id, "events")
        payloads = [(v, station.batches([v], key, uids, 1)[0]) for v in visits]
        station.total = station.seq
        sent: dict[str, tuple[float, float]] = {}
        t0 = time.perf_counter()
        for i, (v, payload) in enumerate(payloads):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[v.visit_id] = (time.perf_counter(), time.time())
            await station.link.publish(topic, payload, qos=1, puback_timeout=None)
        seen: dict[str, _Seen] = await asyncio.to_thread(out.get, True, 180)
    finally:
        await asyncio.to_thread(proc.join, 30)
        if proc.is_alive():
            proc.kill()
    missing = len(visits) - len(seen)
    if missing:
        raise RuntimeError(f"{missing} of {len(visits)} check-ins never showed in a snapshot")
    return [
        (
            (s.received - sent[v][0]) * 1000,
            (s.built_wall - sent[v][1]) * 1000,
            (s.received_wall - s.built_wall) * 1000,
        )
        for v, s in seen.items()
    ]


async def _run(args: argparse.Namespace, workdir: Path) -> int:
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    per_size = args.events
    lat_events = int(args.latency_rate * args.latency_seconds)
    broker = _mosquitto.MosquittoBroker(workdir / "mosquitto")
    broker.start()
    root = f"bench{uuid.uuid4().hex[:6]}/nfch"
    config = CentralConfig.model_validate(
        {
            "http": {"host": "127.0.0.1", "port": 0},
            "database": {"url": f"sqlite:///{workdir / 'central.db'}"},
            "mqtt": {"port": broker.port, "topic_root": root, "client_id": "bench-central"},
            "site": {"site_key_file": str(workdir / "site.key")},
            "log": {"level": "WARNING"},
            "bridge": {"cards_interval_s": args.cards_interval},
            "process": {"gil_switch_interval_ms": args.gil_switch_ms},
        }
    )
    engine_events = args.engine_events
    need = per_size * len(sizes) + lat_events + 2 * engine_events
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
        f"central gil_switch_interval_ms={args.gil_switch_ms}"
    )
    t = time.perf_counter()
    engine = open_engine(config)
    sample = sample_hospital(engine.service_day(), patients=need)
    engine.load(sample.data)
    key = engine.site_key
    print(f"seeded {need} visits in {time.perf_counter() - t:.1f} s (SQLite, {workdir})")
    t = time.perf_counter()
    cards = encode(engine.directory_cards())
    print(
        f"directory/cards for {need} visits: {len(cards) / 1e6:.1f} MB, built and encoded in "
        f"{time.perf_counter() - t:.2f} s (published at most every bridge.cards_interval_s)"
    )
    visits = list(sample.data.visits)
    uids = sample.visit_cards
    # The engine alone, in this process, same check-ins: the database's share of the path.
    solo = _Station("st-bench-engine", broker.port, root)
    pool = visits[per_size * len(sizes) : per_size * len(sizes) + 2 * engine_events]
    for size, chunk in ((50, pool[:engine_events]), (1, pool[engine_events:])):
        batches = [decode(EventBatch, p) for p in solo.batches(chunk, key, uids, size)]
        t = time.perf_counter()
        for b in batches:
            engine.apply_batch(b)
        rate = len(chunk) / (time.perf_counter() - t)
        print(f"engine alone (apply_batch, no MQTT), batch {size:>3}: {rate:,.0f} events/s")
    engine.close()
    central = _CentralProcess(config, workdir)
    try:
        stations = [_Station(f"st-bench-{i}", broker.port, root) for i in range(args.stations)]
        results = []
        central.start()
        t = time.perf_counter()
        await central.wait_ready()
        print(f"central up and warm (assistant loaded) in {time.perf_counter() - t:.1f} s")
        await _wait_for_startup_publish(broker.port, root)
        async with asyncio.TaskGroup() as tg:
            links = [tg.create_task(s.link.run(), name=s.station_id) for s in stations]
            for s in stations:
                await asyncio.wait_for(s.link.subscribed.wait(), 10)
            # Latency first, while the queues are short (a busy morning, not the backlog
            # the throughput runs leave behind).
            timings = await _latency(
                broker.port,
                root,
                stations[0],
                visits[-lat_events:],
                key,
                uids,
                args.latency_rate,
            )
            lat = [t[0] for t in timings]
            offset = 0
            for size in sizes:
                chunk = visits[offset : offset + per_size]
                offset += per_size
                share = len(chunk) // len(stations)
                payloads = {
                    s.station_id: s.batches(chunk[i * share : (i + 1) * share], key, uids, size)
                    for i, s in enumerate(stations)
                }
                n = share * len(stations)
                raw = await _raw_relay(broker.port, payloads, n)
                t0 = time.perf_counter()
                await asyncio.gather(
                    *(
                        _publish_all(
                            s.link,
                            s.topics.station(s.station_id, "events"),
                            payloads[s.station_id],
                            50,
                        )
                        for s in stations
                    )
                )
                await asyncio.wait_for(asyncio.gather(*(s.done.wait() for s in stations)), 600)
                rate = n / (time.perf_counter() - t0)
                results.append((size, n, rate, raw))
                print(
                    f"batch {size:>3}: {n} events, ingest {rate:,.0f} events/s, raw QoS 1 relay "
                    f"{raw:,.0f} events/s, ratio {rate / raw:.2f}"
                )
            for t_ in links:
                t_.cancel()
        print(
            f"event-to-snapshot at {args.latency_rate:.0f} events/s ({len(lat)} check-ins, "
            f"batches of 1): p50 {statistics.median(lat):.1f} ms, p95 {_pct(lat, 95):.1f} ms, "
            f"p99 {_pct(lat, 99):.1f} ms, max {max(lat):.1f} ms"
        )
        for i, part in enumerate(("publish -> snapshot built", "built -> received"), start=1):
            ms = [t[i] for t in timings]
            print(
                f"  {part}: p50 {statistics.median(ms):.1f} ms, p95 {_pct(ms, 95):.1f} ms, "
                f"p99 {_pct(ms, 99):.1f} ms"
            )
        await _central_breakdown(central.port)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        best = max(r[2] for r in results)
        ok = best >= 2000 and _pct(lat, 99) <= 50
        print(f"targets (>= 2,000 events/s, p99 <= 50 ms): {'met' if ok else 'NOT met'}")
        return 0
    finally:
        central.stop()
        broker.close()


def run(argv: list[str]) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="nfc-hospital bench central-ingest", description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="events per batch size")
    parser.add_argument(
        "--engine-events", type=int, default=1000, help="events for the engine-alone runs"
    )
    parser.add_argument("--batch-sizes", default="1,10,50", help="comma-separated batch sizes")
    parser.add_argument("--stations", type=int, default=4, help="stations publishing at once")
    parser.add_argument("--latency-rate", type=float, default=200.0, help="events/s")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="latency run length")
    parser.add_argument(
        "--cards-interval",
        type=float,
        default=10.0,
        help="central's bridge.cards_interval_s (default 10, central's default)",
    )
    parser.add_argument(
        "--gil-switch-ms",
        type=float,
        default=ProcessSettings().gil_switch_interval_ms,
        help="central's process.gil_switch_interval_ms (5 = Python's own default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.keep:
        return asyncio.run(_run(args, Path(tempfile.mkdtemp(prefix="nfch-bench-"))))
    with tempfile.TemporaryDirectory(prefix="nfch-bench-") as d:
        return asyncio.run(_run(args, Path(d)))
