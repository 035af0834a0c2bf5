"""A whole small hospital as separate processes: central, N station daemons, one broker.

`Cluster` reuses the existing wrappers (`CentralProcess`, `DaemonProcess`, `MosquittoBroker`):
central runs `nfc-hospital central` on its own SQLite file with the sample hospital seeded,
each station runs `python -m edge` with its own config, data folder and HTTP port, and the
test can SIGKILL and restart any of them. `FaultProxy` is a TCP proxy between a station and
the broker that delays, stalls and cuts connections (used where `tc netem` is not available).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from protocol.codec import parse_json
from protocol.errors import DecodeError
from protocol.ids import card_hash
from protocol.mqtt import MqttLink
from protocol.topics import Topics
from tests.support.central_harness import (
    CentralProcess,
    Collector,
    central_config,
    mqtt_settings,
    seeded_engine,
    start_link,
)
from tests.support.edge_world import DaemonProcess
from tests.support.factories import SITE_KEY
from tests.support.history import History, Op, central_room_versions, wait_converged
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

# The sample hospital's stations (central knows their map nodes).
SAMPLE_STATIONS = ("st-lobby", "st-1f-east", "st-2f", "st-3f")
# The station whose data folder sits on a small tmpfs in the full-disk storm.
FULL_DISK_STATION = "st-1f-east"


@dataclass
class ProxyFaults:
    """How badly a `FaultProxy` treats the link (per forwarded chunk, each direction)."""

    delay_s: float = 0.05
    jitter_s: float = 0.02
    drop_p: float = 0.0  # cut the connection (both sides) before forwarding this chunk
    stall_p: float = 0.0  # hold this direction for `stall_s` before forwarding
    stall_s: float = 1.5


class FaultProxy:
    """A TCP proxy on 127.0.0.1 that delays, stalls and cuts; runs its own loop in a thread."""

    def __init__(self, target_port: int, faults: ProxyFaults, seed: int = 0) -> None:
        self.target_port = target_port
        self.faults = faults
        self.port = free_port()
        self.rng = random.Random(seed)
        self.cut = False  # partitioned: new connections are closed at once
        self.connections = 0
        self.drops = 0
        self.stalls = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}", daemon=True)
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for w in list(self._writers):
                w.close()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers |= {writer, up_w}
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pipe(reader, up_w, writer), name="proxy-up")
                tg.create_task(self._pipe(up_r, writer, up_w), name="proxy-down")
        except* (OSError, _Cut):
            pass
        finally:
            for w in (writer, up_w):
                self._writers.discard(w)
                w.close()

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, other: asyncio.StreamWriter
    ) -> None:
        f = self.faults
        due = 0.0
        while True:
            chunk = await src.read(65536)
            if not chunk or self.cut:
                raise _Cut
            if self.rng.random() < f.drop_p:
                self.drops += 1
                raise _Cut
            now = time.monotonic()
            delay = max(0.0, f.delay_s + self.rng.uniform(-f.jitter_s, f.jitter_s))
            if self.rng.random() < f.stall_p:
                self.stalls += 1
                delay += f.stall_s
            # TCP keeps order: a chunk never overtakes the one before it.
            due = max(due, now + delay)
            await asyncio.sleep(due - now)
            dst.write(chunk)
            await dst.drain()

    def partition(self) -> None:
        """Cut every connection now and refuse new ones until `heal`."""
        self.cut = True
        self._loop.call_soon_threadsafe(self._close_all)

    def _close_all(self) -> None:
        for w in list(self._writers):
            w.close()

    def heal(self) -> None:
        self.cut = False

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)


class _Cut(Exception):
    """The proxy ends this connection."""


class Station:
    """One station daemon process plus what the storm driver needs to tap it safely."""

    def __init__(self, station_id: str, daemon: DaemonProcess) -> None:
        self.station_id = station_id
        self.daemon = daemon
        self.up = threading.Event()
        self.kills = 0

    @property
    def db(self) -> Path:
        return self.daemon.data_dir / "station.sqlite3"


class Cluster:
    """Central + N stations + a broker, each a separate process, with kill/restart helpers."""

    def __init__(
        self,
        workdir: Path,
        broker: MosquittoBroker,
        topic_root: str,
        *,
        stations: int = 3,
        patients: int = 60,
        proxy_faults: ProxyFaults | None = None,
        seed: int = 0,
        data_dirs: dict[str, Path] | None = None,
    ) -> None:
        self.workdir = workdir
        self.broker = broker
        self.topic_root = topic_root
        central_dir = workdir / "central"
        central_dir.mkdir(parents=True, exist_ok=True)
        # One site key file format for central and stations: hex text.
        (central_dir / "site.key").write_text(SITE_KEY.hex() + "\n")
        (central_dir / "site.key").chmod(0o600)  # central refuses a key others can read
        self.config = central_config(central_dir, broker.port, topic_root)
        engine, sample = seeded_engine(self.config, patients=patients)
        engine.close()
        self.sample = sample
        self.card_uids = sorted(sample.visit_cards.values())
        self.patient_names = sorted(p.name for p in sample.data.patients)
        self.central = CentralProcess(self.config, central_dir)
        self.central_db = central_dir / "central.db"
        self.proxies: dict[str, FaultProxy] = {}
        self.stations: dict[str, Station] = {}
        for i, sid in enumerate(SAMPLE_STATIONS[:stations]):
            port = broker.port
            if proxy_faults is not None:
                proxy = FaultProxy(broker.port, proxy_faults, seed=seed * 100 + i)
                self.proxies[sid] = proxy
                port = proxy.port
            sdir = workdir / sid
            sdir.mkdir(parents=True, exist_ok=True)
            extra: dict[str, object] = {}
            if data_dirs and sid in data_dirs:  # e.g. on a small tmpfs that will fill up
                extra["data_dir"] = str(data_dirs[sid])
            daemon = DaemonProcess(
                sdir,
                port,
                topic_root,
                station_id=sid,
                location_node=sid,
                log={"level": "INFO"},
                **extra,
            )
            if data_dirs and sid in data_dirs:
                daemon.data_dir = data_dirs[sid]
            self.stations[sid] = Station(sid, daemon)
        self.central_kills = 0
        self.broker_kills = 0
        # Extra environment of a station's process (e.g. a shifted clock), by station id.
        self.station_env: dict[str, dict[str, str]] = {}
        # Stations the kill fault leaves alone for now (e.g. while their disk is full), and
        # the lock it holds over one kill-and-restart, so a test can change that set safely.
        self.no_kill: set[str] = set()
        self.fault_lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, limit_s: float = 60) -> None:
        """Start central, the proxies and the stations; wait until every station has the cards."""
        for proxy in self.proxies.values():
            proxy.start()
        self.central.start()
        asyncio.run(self.central.wait_ready(limit_s))
        for sid in self.stations:
            self.restart_station(sid, limit_s)
        deadline = time.monotonic() + limit_s
        for st in self.stations.values():
            while not _has_cards(st.db):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{st.station_id} never got the cards directory")
                time.sleep(0.05)

    def kill_station(self, sid: str) -> None:
        st = self.stations[sid]
        st.up.clear()
        st.daemon.kill()
        st.kills += 1

    def restart_station(self, sid: str, limit_s: float = 60) -> None:
        st = self.stations[sid]
        extra = self.station_env.get(sid)
        st.daemon.start(timeout=limit_s, env={**os.environ, **extra} if extra else None)
        st.up.set()

    def kill_central(self) -> None:
        self.central.kill()
        self.central_kills += 1

    def restart_central(self, limit_s: float = 60) -> None:
        self.central.start()
        asyncio.run(self.central.wait_ready(limit_s))

    def kill_broker(self) -> None:
        self.broker.kill()
        self.broker_kills += 1

    def restart_broker(self) -> None:
        self.broker.start()

    def close(self) -> None:
        """Stop everything this cluster started, by PID; keep logs for a failed test."""
        for st in self.stations.values():
            if st.daemon.process is not None and st.daemon.process.poll() is None:
                try:
                    st.daemon.terminate(timeout=20)
                except Exception:
                    st.daemon.kill()
        if self.central.process is not None and self.central.process.poll() is None:
            try:
                self.central.terminate()
            except Exception:
                self.central.kill()
        for proxy in self.proxies.values():
            proxy.close()

    # --- taps -------------------------------------------------------------------------------

    @property
    def station_dbs(self) -> dict[str, Path]:
        return {sid: st.db for sid, st in self.stations.items()}

    def tap(self, history: History, sid: str, uid: str) -> Op:
        """One tap through the station's local API, recorded in `history`."""
        st = self.stations[sid]
        op = history.invoke(sid, card_hash(SITE_KEY, uid))
        try:
            status, body = st.daemon.tap(uid)
        except (OSError, ValueError) as e:
            # Killed mid-request (reset, refused, truncated answer): it may or may not be in.
            history.complete(op, "info", detail=type(e).__name__)
            return op
        screen = str(body.get("kind")) if isinstance(body, dict) else None
        if status == 200:
            history.complete(op, "ok", screen=screen)
        elif status in (400, 503):
            history.complete(op, "fail", screen=screen, detail=str(status))
        else:
            history.complete(op, "info", screen=screen, detail=f"http {status}")
        return op

    def logs(self) -> str:
        parts = [f"--- central\n{self.central.log()[-4000:]}"]
        for sid, st in self.stations.items():
            parts.append(f"--- {sid}\n{st.daemon.log()[-3000:]}")
        return "\n".join(parts)

    def keep_logs(self, dest: Path) -> None:
        """Copy the processes' logs somewhere a failed run can be read later."""
        dest.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(self.central.log_path, dest / "central.log")
            for sid, st in self.stations.items():
                shutil.copy(st.daemon.log_path, dest / f"{sid}.log")


def _has_cards(db: Path) -> bool:
    import sqlite3

    if not db.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            row = conn.execute("SELECT 1 FROM directory WHERE kind = 'cards'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None


# --- the storm ------------------------------------------------------------------------------


@dataclass
class StormPlan:
    """What a storm does: how many taps, which faults, how often (all from one seed)."""

    taps: int = 600
    seed: int = 1
    tap_gap_s: float = 0.05  # per station, between one answer and the next tap
    fault_gap_s: tuple[float, float] = (0.3, 1.5)
    broker_kills: bool = True
    station_kills: bool = True
    central_kill: bool = True  # once, near the middle
    partitions: bool = False  # proxy partitions of one station (needs proxies)
    unknown_card_p: float = 0.05
    converge_limit_s: float = 60.0


@dataclass
class StormResult:
    plan: StormPlan
    history: History
    faults: Counter[str]
    storm_s: float
    converge_s: float
    observer_s: float

    def fault_total(self) -> int:
        return sum(self.faults.values())


def _tapper(
    cluster: Cluster,
    history: History,
    sid: str,
    cards: list[str],
    plan: StormPlan,
    errors: list[BaseException],
) -> None:
    st = cluster.stations[sid]
    try:
        for uid in cards:
            if not st.up.wait(120):
                raise TimeoutError(f"{sid} stayed down for 120 s")
            cluster.tap(history, sid, uid)
            time.sleep(plan.tap_gap_s)
    except BaseException as e:
        errors.append(e)


def _faults(
    kind: str,
    cluster: Cluster,
    plan: StormPlan,
    done: threading.Event,
    rng: random.Random,
    faults: Counter[str],
    errors: list[BaseException],
    halfway: threading.Event,
) -> None:
    """One fault thread per kind, so a broker outage and a station kill can overlap."""
    try:
        if kind == "central_kill":
            # Once, in the middle of the stream (or at its end if the stream was short).
            while not halfway.wait(0.05) and not done.is_set():
                pass
            cluster.kill_central()
            faults[kind] += 1
            time.sleep(rng.uniform(0.3, 1.5))
            cluster.restart_central()
            return
        while not done.wait(rng.uniform(*plan.fault_gap_s)):
            if kind == "broker_kill":
                cluster.kill_broker()
                faults[kind] += 1
                time.sleep(rng.uniform(0.2, 1.5))
                cluster.restart_broker()
            elif kind == "station_kill":
                with cluster.fault_lock:
                    pick = sorted(set(cluster.stations) - cluster.no_kill)
                    if not pick:
                        continue
                    sid = rng.choice(pick)
                    cluster.kill_station(sid)
                    faults[kind] += 1
                    time.sleep(rng.uniform(0.05, 0.8))
                    cluster.restart_station(sid)
            else:
                sid = rng.choice(sorted(cluster.proxies))
                proxy = cluster.proxies[sid]
                proxy.partition()
                faults[kind] += 1
                time.sleep(rng.uniform(0.5, 3.0))
                proxy.heal()
    except BaseException as e:
        errors.append(e)


SideFault = Callable[[Cluster, History, threading.Event, Counter[str]], None]


def run_storm(cluster: Cluster, plan: StormPlan, side: SideFault | None = None) -> StormResult:
    """Tap from every station while faults are injected; heal; return the measured result.

    `side`, when given, runs in a thread of its own during the storm (a scenario's own fault,
    e.g. filling a station's disk) with the cluster, the history, the storm's `done` event and
    the fault counter. The caller runs `history.check` on the result (and the test asserts it).
    """
    rng = random.Random(plan.seed)
    history = History()
    sids = sorted(cluster.stations)
    unknown = [f"04FF{i:010X}" for i in range(20)]
    streams: dict[str, list[str]] = {sid: [] for sid in sids}
    for i in range(plan.taps):
        pool = unknown if rng.random() < plan.unknown_card_p else cluster.card_uids
        streams[sids[i % len(sids)]].append(rng.choice(pool))
    done, halfway = threading.Event(), threading.Event()
    faults: Counter[str] = Counter()
    errors: list[BaseException] = []
    tappers = [
        threading.Thread(
            target=_tapper,
            args=(cluster, history, sid, streams[sid], plan, errors),
            name=f"tapper-{sid}",
        )
        for sid in sids
    ]
    kinds = [
        k
        for k, on in (
            ("broker_kill", plan.broker_kills),
            ("station_kill", plan.station_kills),
            ("partition", plan.partitions and bool(cluster.proxies)),
            ("central_kill", plan.central_kill),
        )
        if on
    ]
    fault_threads = [
        threading.Thread(
            target=_faults,
            args=(
                kind,
                cluster,
                plan,
                done,
                random.Random(plan.seed * 10 + i),
                faults,
                errors,
                halfway,
            ),
            name=f"faults-{kind}",
        )
        for i, kind in enumerate(kinds)
    ]
    if side is not None:

        def run_side() -> None:
            try:
                side(cluster, history, done, faults)
            except BaseException as e:
                errors.append(e)

        fault_threads.append(threading.Thread(target=run_side, name="faults-side"))
    start = time.monotonic()
    for t in [*tappers, *fault_threads]:
        t.start()
    while any(t.is_alive() for t in tappers):
        if len(history.ops) >= plan.taps // 2:
            halfway.set()
        time.sleep(0.05)
    halfway.set()
    done.set()
    for t in fault_threads:
        t.join(180)
    storm_s = time.monotonic() - start
    if errors:
        raise RuntimeError(f"storm driver failed: {errors!r}\n{cluster.logs()}") from errors[0]
    # Heal: everything up (the fault thread always restarts what it killed).
    if not cluster.broker.running:
        cluster.restart_broker()
    for proxy in cluster.proxies.values():
        proxy.heal()
    converge_s = wait_converged(cluster.central_db, cluster.station_dbs, plan.converge_limit_s)
    observer_s = asyncio.run(
        observe_retained(cluster.broker.port, cluster.topic_root, cluster.central_db, 30)
    )
    return StormResult(plan, history, faults, storm_s, converge_s, observer_s)


async def observe_retained(port: int, topic_root: str, central_db: Path, limit_s: float) -> float:
    """Seconds until a new subscriber (what a kiosk does on start) holds central's latest
    snapshot version of every room from the retained room topics; AssertionError otherwise."""
    expected = central_room_versions(central_db)
    collector = Collector()
    link = MqttLink(
        mqtt_settings(port, topic_root),
        f"observer-{time.monotonic_ns()}",
        subscriptions=[(Topics(topic_root).room_filter("queue"), 1)],
        on_message=collector,
        clean_start=True,
    )
    start = time.monotonic()
    held: dict[str, int] = {}
    async with asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "observer")
        try:
            while held != expected:
                if time.monotonic() - start > limit_s:
                    behind = {r: (held.get(r), v) for r, v in expected.items() if held.get(r) != v}
                    raise AssertionError(f"retained snapshots behind central: {behind}")
                for msg in collector.messages:
                    try:
                        doc = parse_json(msg.payload)
                    except DecodeError:
                        continue  # garbage on a room topic: a kiosk ignores it, so do we
                    room, version = doc.get("room_id"), doc.get("version")
                    if isinstance(room, str) and isinstance(version, int):
                        held[room] = max(held.get(room, 0), version)
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
    return time.monotonic() - start


# --- a full disk ----------------------------------------------------------------------------


@contextlib.contextmanager
def mount_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. "8m") at `mount_point` until the block ends (needs root;
    PermissionError otherwise, or when mounting is refused). Always unmounted after."""
    mount_point.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise PermissionError("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path: Path) -> int:
    """Write until the file system refuses; returns the bytes written."""
    written = 0
    with contextlib.suppress(OSError), path.open("wb", buffering=0) as f:
        while True:
            written += f.write(b"\0" * 65536)
    with contextlib.suppress(OSError), path.open("ab", buffering=0) as f:
        while True:  # the last partial block
            written += f.write(b"\0" * 512)
    return written


class DiskFull:
    """The side fault: fill the station's disk at 1/3 of the stream, free it at 2/3."""

    def __init__(self, disk: Path, taps: int) -> None:
        self.disk = disk
        self.taps = taps
        self.filled_at: float | None = None
        self.freed_at: float | None = None
        self.health_full: dict[str, object] | None = None
        self.health_after: dict[str, object] | None = None
        self.filled_bytes = 0
        # Set when the daemon died while its disk was full: its exit code and last log line.
        # It is then restarted once space is back, as systemd's Restart=on-failure would.
        self.crashed: str | None = None

    def _health(self, cluster: Cluster) -> tuple[int, dict[str, object]] | None:
        st = cluster.stations[FULL_DISK_STATION]
        process = st.daemon.process
        if process is not None and process.poll() is not None:
            if self.crashed is None:
                lines = st.daemon.log().strip().splitlines()
                last = next((x for x in reversed(lines) if "CRITICAL" in x), lines[-1:])
                self.crashed = f"exit {process.returncode}: {str(last)[:400]}"
            return None
        try:
            status, body = st.daemon.get("/healthz")
        except OSError:
            return None
        return status, json.loads(body)

    def __call__(
        self, cluster: Cluster, history: History, done: threading.Event, faults: Counter[str]
    ) -> None:
        while len(history.ops) < self.taps // 3:
            if done.wait(0.05):
                return
        with cluster.fault_lock:  # no kill-and-restart of it in flight from here on
            cluster.no_kill.add(FULL_DISK_STATION)
        filler = self.disk / "filler"
        self.filled_bytes = fill(filler)
        self.filled_at = time.monotonic()
        faults["disk_full"] += 1
        # The alarm shows once a write failed, i.e. after the first refused tap.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.crashed is None:
            got = self._health(cluster)
            if got is not None and got[0] == 503 and "disk_full" in got[1].get("alarms", []):
                self.health_full = got[1]
                break
            time.sleep(0.1)
        while len(history.ops) < 2 * self.taps // 3 and not done.is_set():
            self._health(cluster)  # notices a crash
            time.sleep(0.05)
        filler.unlink()
        self.freed_at = time.monotonic()
        with cluster.fault_lock:
            if self.crashed is not None or self._health(cluster) is None:
                cluster.restart_station(FULL_DISK_STATION)
            cluster.no_kill.discard(FULL_DISK_STATION)
        # The alarm clears with the next tap that is written.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = self._health(cluster)
            if got is not None and "disk_full" not in got[1].get("alarms", []):
                self.health_after = got[1]
                break
            time.sleep(0.1)
