"""`nfc-hospital demo`: a whole hospital on one machine.

Starts, each as its own process group: a private Mosquitto broker on a free port (the
embedded amqtt broker cannot stand in: it speaks MQTT 3.1.1, our parts MQTT 5), central on
SQLite seeded with the sample hospital and the simulated day's visits (plus two staff
accounts), three hallway stations (edge daemons with simulated readers) and two room boards
(kiosks; offscreen without a display), the last two while central starts. Then the
simulator (`central.sim.live`) plays the day at an accelerated clock through the real paths:
card taps at the stations' tap endpoints, staff calls through central's REST API.

`--headless --duration S` runs for S seconds, then checks the invariants (every answered tap
is at central exactly once, ticket numbers unique per room and day, stations and room boards
converged to central's snapshot versions) and exits 0 only if they held. SIGINT/SIGTERM stops
everything it started: room boards, then stations, then central, then the broker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

from nfc_hospital.orchestra import (
    Child,
    Orchestra,
    OrchestraError,
    free_port,
    http_json,
    mosquitto_binary,
    mosquitto_child,
    port_open,
    wait_until,
)
from protocol.ids import format_site_key

STATIONS = ("st-lobby", "st-1f-east", "st-2f")
"""The sample hospital's hallway stations the demo runs."""
TOPIC_ROOT = "nfch"
EDGE_DB = "station.sqlite3"
STATION_DOCUMENTS = ("cards", "rooms", "config")
"""Directory documents central publishes that every station must hold at its latest version."""
NURSE_USER = "nurse"
SIM_USER = "demo-sim"


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived while starting up."""


@dataclass
class Options:
    """What the command line asked for."""

    headless: bool = False
    duration: float | None = None
    data_dir: Path | None = None
    speed: float = 60.0
    visits: int = 150
    seed: int = 7
    status_every: float = 5.0


@dataclass
class Results:
    """What the headless checks found."""

    failures: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def check(self, ok: bool, fact: str, failure: str) -> None:
        if ok:
            self.facts.append(fact)
        else:
            self.failures.append(failure)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Start central, a broker, three simulated hallway stations and two room "
        "boards on this machine, and let the simulator drive patients through them at an "
        "accelerated clock. Ctrl-C stops everything.",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no windows (room boards run offscreen); with --duration: check the invariants "
        "at the end and exit 0 only if they held",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this long (default: run until Ctrl-C or the end of the simulated day)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep databases, configs and logs here (must be new or empty); default: a "
        "temporary folder, removed at the end unless the run failed",
    )
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)"
    )
    parser.add_argument("--visits", type=int, default=150, help="visits booked (default 150)")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    parser.add_argument(
        "--status-every", type=float, default=5.0, metavar="SECONDS", help="status line period"
    )
    return parser


def main(argv: list[str], prog: str = "nfc-hospital demo") -> int:
    args = _parser(prog).parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        print(f"{prog}: --duration must be positive", file=sys.stderr)
        return 2
    if args.speed <= 0 or args.visits < 1:
        print(f"{prog}: --speed must be positive and --visits at least 1", file=sys.stderr)
        return 2
    opts = Options(
        headless=args.headless,
        duration=args.duration,
        data_dir=args.data_dir,
        speed=args.speed,
        visits=args.visits,
        seed=args.seed,
        status_every=args.status_every,
    )
    return Demo(opts, prog).run()


def _say(text: str) -> None:
    print(text, flush=True)


class Demo:
    """One demo run: start, watch, check, stop."""

    def __init__(self, opts: Options, prog: str = "nfc-hospital demo") -> None:
        self.opts = opts
        self.prog = prog
        self.orchestra = Orchestra()
        self.stop = threading.Event()
        self.signal_name: str | None = None
        self.workdir = Path()
        self.central_url = ""
        self.central_db = Path()
        self.station_ports: dict[str, int] = {}
        self.kiosk_rooms: list[str] = []
        self.sim_rooms: list[str] = []
        self.broker_name = ""
        self.live: Any = None
        self.sim_thread: threading.Thread | None = None
        self.sim_error: BaseException | None = None
        self.sim_done = threading.Event()
        self.crash = ""
        """What the child that died said (its status and last log lines)."""
        self._temp: Path | None = None
        """The temporary working folder this run made (removed at the end unless it failed)."""

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        ok = False
        try:
            try:
                self._prepare_workdir()
                self._start_all()
            except Interrupted:
                _say(f"{self.prog}: stopped by {self.signal_name} while starting")
                return 130 if self.signal_name == "SIGINT" else 143
            except (OrchestraError, OSError, ValueError) as e:
                _say(f"{self.prog}: could not start: {e}")
                return 1
            except Exception as e:  # anything else from a part: said plainly, logs kept
                _say(f"{self.prog}: could not start: {e!r}")
                return 1
            ended_by = self._watch()
            results = Results()
            if ended_by == "crash":
                results.failures.append(self.crash)
            elif self.opts.headless and self.opts.duration is not None and ended_by != "signal":
                try:
                    self._check(results)
                except Interrupted:
                    ended_by = "signal"
                except Exception as e:  # a part died or answered nonsense: a failed run
                    results.failures.append(f"the checks could not finish: {e!r}")
            self._stop_sim()
            self._stop_children(results)
            if ended_by == "signal":
                _say(f"{self.prog}: stopped by {self.signal_name}; every process it started ended")
                ok = True  # the usual way to end an interactive demo: nothing to keep
                return 130 if self.signal_name == "SIGINT" else 143
            if self.sim_error is not None and ended_by != "crash":
                results.failures.append(f"the simulation failed: {self.sim_error}")
            self._summary(results)
            ok = not results.failures
            return 0 if ok else 1
        finally:
            # Whatever happened above, nothing this run started stays behind.
            self.stop.set()
            self.orchestra.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._cleanup_workdir(ok)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.stop.set()

    def _alive(self) -> None:
        if self.stop.is_set():
            raise Interrupted
        self.orchestra.check_alive()

    # ------------------------------------------------------------------ start

    def _prepare_workdir(self) -> None:
        if self.opts.data_dir is None:
            self._temp = Path(tempfile.mkdtemp(prefix="nfch-demo-"))
            self.workdir = self._temp
        else:
            self.workdir = self.opts.data_dir.resolve()
            if self.workdir.exists() and any(self.workdir.iterdir()):
                raise ValueError(f"{self.workdir} is not empty (give a new or empty folder)")
            self.workdir.mkdir(parents=True, exist_ok=True)
        _say(f"{self.prog}: working folder {self.workdir} (configs, databases, logs)")

    def _cleanup_workdir(self, ok: bool) -> None:
        if self._temp is None:
            return
        if ok:
            shutil.rmtree(self._temp, ignore_errors=True)
        else:
            _say(f"{self.prog}: logs kept in {self.workdir}")

    def _start_all(self) -> None:
        from central.config import CentralConfig
        from central.sim.config import load_sim_config
        from protocol.config import render_config

        wd = self.workdir
        # One site key file, shared by central and the stations (as provisioning copies it).
        fd = os.open(wd / "site.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(format_site_key(secrets.token_bytes(32)))

        broker_port = self._start_broker()
        mqtt: dict[str, Any] = {
            "port": broker_port,
            "topic_root": TOPIC_ROOT,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2.0,
            "keepalive_s": 10,
        }

        http_port = free_port()
        self.central_url = f"http://127.0.0.1:{http_port}"
        self.central_db = wd / "central.db"
        central_cfg = CentralConfig.model_validate(
            {
                "http": {"host": "127.0.0.1", "port": http_port},
                "database": {"url": f"sqlite:///{self.central_db}"},
                "mqtt": {**mqtt, "client_id": "central-demo"},
                "site": {"site_key_file": str(wd / "site.key")},
                "bridge": {"phone_page_url": f"{self.central_url}/p", "drain_timeout_s": 5},
            }
        )
        (wd / "central.toml").write_text(render_config(central_cfg), encoding="utf-8")

        self.sim_cfg = self._prepare_database(central_cfg, load_sim_config(None))
        sim_cfg = self.sim_cfg

        self.orchestra.add(
            Child(
                "central",
                self._cmd("central", "--config", str(wd / "central.toml")),
                wd / "central.log",
                tier=1,
            )
        )
        # Stations and room boards start while central does (they wait for it on their own:
        # a station is offline until central answers); stopping goes tier by tier.
        for station_id in STATIONS:
            self._start_station(station_id, mqtt)
        self.sim_rooms = sorted({r for g in sim_cfg.groups.values() for r in g.rooms})
        self.kiosk_rooms = self._busiest_rooms(sim_cfg, 2)
        for room_id in self.kiosk_rooms:
            self._start_kiosk(room_id, mqtt)
        wait_until(
            "central (/healthz ok: database and broker)",
            lambda: self._health().get("status") == "ok",
            60,
            alive=self._alive,
        )
        self._wait_stations_ready()
        self._start_sim()
        self._write_pids()
        self._banner()

    def _write_pids(self) -> None:
        """`pids.json` in the working folder: what this run started (for operators and tests)."""
        import json

        doc = {"demo": os.getpid(), **{c.name: c.pid for c in self.orchestra.children}}
        (self.workdir / "pids.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")

    def _cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "nfc_hospital", *args]

    def _start_broker(self) -> int:
        if mosquitto_binary() is None:
            # The embedded amqtt broker was meant as the fallback; it speaks MQTT 3.1.1 only and
            # every part here connects with MQTT 5 (protocol.mqtt), so it cannot stand in.
            raise OrchestraError(
                "Mosquitto is not installed (apt-get install mosquitto; scripts/demo.sh does "
                "it). The embedded amqtt broker cannot replace it: it speaks MQTT 3.1.1 only "
                "and the stations, kiosks and central speak MQTT 5."
            )
        port = free_port()
        self.broker_name = "mosquitto"
        self.orchestra.add(mosquitto_child(self.workdir, port))
        wait_until(f"mosquitto on port {port}", lambda: port_open(port), 20, alive=self._alive)
        return port

    def _prepare_database(self, central_cfg: Any, sim_cfg: Any) -> Any:
        """Migrate central's database and fill it before central starts: the sample
        hospital, the simulated day's visits (the live run books the same ones: same config,
        same seed) and two staff accounts. Returns the simulation config for today."""
        from datetime import UTC, datetime

        from central.app import open_engine
        from central.auth.passwords import Passwords
        from central.auth.store import AuthStore
        from central.seed import sample_hospital
        from central.sim.live import hospital_data, plan_bookings

        engine = open_engine(central_cfg)
        try:
            day: date = engine.service_day()
            engine.load(sample_hospital(day).data, actor="demo-seed")
            sim_cfg = type(sim_cfg).model_validate(
                {
                    **sim_cfg.model_dump(),
                    "seed": self.opts.seed,
                    "visits": self.opts.visits,
                    "service_day": day,
                    # Hallway stations check a patient in to their next room wherever they
                    # tap: there is no wrong station to simulate.
                    "wrong_station_rate": 0.0,
                }
            )
            self.bookings = plan_bookings(sim_cfg)
            engine.load(hospital_data(sim_cfg, self.bookings), actor="demo-seed")
            # A nurse account for the person watching, and an admin account the simulation
            # and the checks use (as `nfc-hospital central add-user` makes them).
            auth = central_cfg.auth
            hasher = Passwords(
                time_cost=auth.password_time_cost,
                memory_kib=auth.password_memory_kib,
                parallelism=auth.password_parallelism,
            )
            store = AuthStore(engine.db)
            self.nurse_password = secrets.token_urlsafe(9)
            self.sim_password = secrets.token_urlsafe(18)
            now = datetime.now(UTC)
            for user, name, role, password in (
                (NURSE_USER, "Demo nurse", "nurse", self.nurse_password),
                (SIM_USER, "Simulator", "admin", self.sim_password),
            ):
                store.add_user(user, name, role, hasher.hash(password), now)
        finally:
            engine.close()
        return sim_cfg

    def _health(self) -> dict[str, Any]:
        try:
            status, body = http_json(f"{self.central_url}/healthz", timeout_s=3)
        except OSError:
            return {}
        return body if status == 200 and isinstance(body, dict) else {}

    def _start_station(self, station_id: str, mqtt: dict[str, Any]) -> None:
        import tomli_w

        sdir = self.workdir / station_id
        sdir.mkdir()
        doc = {
            "station_id": station_id,
            "location_node": station_id,
            "data_dir": str(sdir / "data"),
            "site_key_file": str(self.workdir / "site.key"),
            "http": {"host": "127.0.0.1", "port": 0},
            "mqtt": {**mqtt, "client_id": f"edge-{station_id}"},
            "readers": [{"type": "simulated", "debounce_s": 0}],
            "screen_idle_s": 3.0,
            "sync": {"resend_timeout_s": 3.0, "status_interval_s": 5.0},
            "watchdog": False,
        }
        (sdir / "station.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
        self.orchestra.add(
            Child(
                station_id,
                self._cmd("edge", "--config", str(sdir / "station.toml")),
                sdir / "edge.log",
                tier=2,
            )
        )

    def _wait_stations_ready(self) -> None:
        for station_id in STATIONS:
            port_file = self.workdir / station_id / "data" / "http.port"
            wait_until(
                f"station {station_id} (HTTP port)",
                lambda p=port_file: p.exists() and p.read_text().strip() != "",  # type: ignore[misc]
                30,
                alive=self._alive,
            )
            self.station_ports[station_id] = int(port_file.read_text())
        # A station can check patients in only once it holds central's cards directory.
        for station_id in STATIONS:
            wait_until(
                f"station {station_id} (cards directory from central)",
                lambda s=station_id: "cards" in self._station_docs(s)[0],  # type: ignore[misc]
                30,
                alive=self._alive,
            )

    def _station_docs(self, station_id: str) -> tuple[dict[str, int], dict[str, int], int, int]:
        """(directory versions, room snapshot versions, unacked events, highest seq) as the
        station's own database holds them."""
        path = self.workdir / station_id / "data" / EDGE_DB
        if not path.exists():
            return {}, {}, 0, 0
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                docs = dict(conn.execute("SELECT kind, version FROM directory").fetchall())
                snaps = dict(conn.execute("SELECT room_id, version FROM room_snapshots").fetchall())
                unacked, top = conn.execute(
                    "SELECT COUNT(*) FILTER (WHERE acked = 0), COALESCE(MAX(station_seq), 0) "
                    "FROM outbox"
                ).fetchone()
        except sqlite3.Error:
            return {}, {}, 0, 0  # not created yet, or busy: the caller polls again
        return docs, snaps, int(unacked), int(top)

    @staticmethod
    def _busiest_rooms(sim_cfg: Any, n: int) -> list[str]:
        # Rooms of the most common first steps: their boards change most in a short demo.
        counts: Counter[str] = Counter()
        for mix in sim_cfg.mixes:
            group = sim_cfg.groups[mix.steps[0]]
            for room in group.rooms:
                counts[room] += mix.weight / len(group.rooms)
        return [room for room, _w in counts.most_common(n)]

    def _start_kiosk(self, room_id: str, mqtt: dict[str, Any]) -> None:
        import tomli_w

        kdir = self.workdir / f"kiosk-{room_id}"
        kdir.mkdir()
        doc = {
            "room_id": room_id,
            "muted": self.opts.headless,
            "fullscreen": False,
            "cache_dir": str(kdir / "cache"),
            "http": {"host": "127.0.0.1", "port": 0},
            "mqtt": {**mqtt, "client_id": f"kiosk-{room_id}"},
        }
        (kdir / "kiosk.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
        env: dict[str, str] = {}
        if self.opts.headless or not self._has_display():
            env["QT_QPA_PLATFORM"] = "offscreen"
        self.orchestra.add(
            Child(
                f"kiosk-{room_id}",
                self._cmd("kiosk", "--config", str(kdir / "kiosk.toml")),
                kdir / "kiosk.log",
                env=env,
                tier=3,
            )
        )

    @staticmethod
    def _has_display() -> bool:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))

    def _start_sim(self) -> None:
        import random

        from central.sim.live import LiveQueue, SimulationStopped, Station
        from central.sim.model import Simulation

        self.live = LiveQueue(
            self.central_url,
            [Station(s, self.station_ports[s]) for s in STATIONS],
            speed=self.opts.speed,
            stop=self.stop_sim_event(),
            login=(SIM_USER, self.sim_password) if self._needs_login() else None,
        )
        sim = Simulation(self.sim_cfg, random.Random(self.sim_cfg.seed), backend=self.live)

        def play() -> None:
            try:
                sim.run()
            except SimulationStopped:
                pass
            except BaseException as e:  # reported in the summary, never lost
                self.sim_error = e
            finally:
                self.sim_done.set()

        self.sim_thread = threading.Thread(target=play, name="simulation", daemon=True)
        self.sim_thread.start()

    def _needs_login(self) -> bool:
        # A central built without staff login answers the staff routes without a token.
        status, _body = http_json(f"{self.central_url}/api/v1/events?limit=1", timeout_s=5)
        return status == 401

    def stop_sim_event(self) -> threading.Event:
        if not hasattr(self, "_sim_stop"):
            self._sim_stop = threading.Event()
        return self._sim_stop

    def _banner(self) -> None:
        from central.sim.live import card_uid

        windows = "offscreen" if self.opts.headless or not self._has_display() else "windows"
        lines = [
            f"{self.prog}: running — broker {self.broker_name}, central {self.central_url}, "
            f"stations {', '.join(STATIONS)}, room boards {', '.join(self.kiosk_rooms)} "
            f"({windows}); {self.opts.visits} visits at {self.opts.speed:g}x",
            f"  API:        {self.central_url}/api/v1/  (OpenAPI: {self.central_url}"
            "/api/v1/openapi.json)",
        ]
        status, _body = http_json(f"{self.central_url}/staff/login", timeout_s=3)
        if status == 200:
            lines.append(f"  Dashboard:  {self.central_url}/staff")
            lines.append(f"  Staff login: {NURSE_USER} / {self.nurse_password}")
            lines.append(f"  Phone page: {self.central_url}/p")
        else:
            lines.append(
                "  Dashboard:  not served by this central build; the API above is the way in"
            )
        lines.append(
            "  Tap a card yourself: nfc-hospital edge tap UID --config "
            f"{self.workdir / STATIONS[0] / 'station.toml'}"
        )
        lines.append(
            f"    the simulated patients' cards are {card_uid(1)} to "
            f"{card_uid(self.opts.visits)} (hexadecimal)"
        )
        lines.append("  Ctrl-C stops everything.")
        for line in lines:
            _say(line)

    # ------------------------------------------------------------------ watch

    def _watch(self) -> str:
        started = time.monotonic()
        next_status = started + self.opts.status_every
        while True:
            now = time.monotonic()
            if self.stop.is_set():
                return "signal"
            if self.opts.duration is not None and now - started >= self.opts.duration:
                return "duration"
            # A dead child first: the simulation then fails too, but only as a consequence.
            try:
                self.orchestra.check_alive()
            except OrchestraError as e:
                self.crash = str(e)
                return "crash"
            if self.sim_done.is_set():
                return "sim_done"
            if now >= next_status:
                try:
                    line = self._status_line(now - started)
                except Exception as e:  # a part is not answering: say so, the watch goes on
                    line = f"[{now - started:5.0f}s] status unavailable: {e}"
                _say(line)
                next_status += self.opts.status_every
            wake = next_status
            if self.opts.duration is not None:
                wake = min(wake, started + self.opts.duration)
            self.stop.wait(max(0.05, min(0.5, wake - time.monotonic())))

    def _status_line(self, elapsed: float) -> str:
        waiting = called = 0
        for room_id in self.sim_rooms:
            status, q = self.live.api_get(f"/rooms/{room_id}/queue")
            if status == 200 and isinstance(q, dict):
                waiting += len(q.get("waiting", []))
                called += len(q.get("now_calling", []))
        live = self.live
        t = live.clock() if live else None
        clock = "--:--" if t is None else f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}"
        online = self._health().get("stations_online", "?")
        return (
            f"[{elapsed:5.0f}s] sim {clock}  taps {live.counts['tap']}  waiting {waiting}  "
            f"called {called}  served {live.counts['complete']}  "
            f"stations online {online}/{len(STATIONS)}"
        )

    def _stop_sim(self) -> None:
        self.stop_sim_event().set()
        if self.sim_thread is not None:
            self.sim_thread.join(timeout=30)

    def _stop_children(self, results: Results) -> None:
        def note(child: Child, code: int | None) -> None:
            results.check(
                code == 0,
                f"{child.name} stopped cleanly",
                f"{child.name} ended with status {code}, not 0 after SIGTERM "
                f"(log: {child.log_path})",
            )

        self.orchestra.stop_all(note)

    # ------------------------------------------------------------------ checks

    def _check(self, r: Results) -> None:
        self._stop_sim()
        live = self.live
        # 1. Stations drained: every event they recorded was acknowledged by central.
        try:
            wait_until(
                "stations' outboxes acknowledged",
                lambda: all(self._station_docs(s)[2] == 0 for s in STATIONS),
                30,
                alive=self._alive,
            )
            drained = True
        except OrchestraError:
            drained = False
        r.check(
            drained,
            "every station's outbox is acknowledged",
            "events still unacknowledged at a station after 30 s: "
            + ", ".join(f"{s}={self._station_docs(s)[2]}" for s in STATIONS),
        )
        # 2. Every answered tap is at central exactly once; nothing else from the stations.
        expected = Counter((t.station_id, t.visit_id, t.event_kind) for t in live.taps)
        got: Counter[tuple[str, str, str]] = Counter()
        seqs: dict[str, list[int]] = {}
        tickets: Counter[tuple[str, str, int]] = Counter()
        for station_id in STATIONS:
            events = self._central_events(station_id)
            seqs[station_id] = sorted(int(e["station_seq"]) for e in events)
            for e in events:
                p = e["payload"]
                if e["kind"] in ("check_in", "tap"):
                    got[(station_id, str(p.get("visit_id")), e["kind"])] += 1
                if e["kind"] == "check_in" and p.get("ticket_number") is not None:
                    tickets[(p["room_id"], p["service_day"], int(p["ticket_number"]))] += 1
        r.check(
            got == expected,
            f"{sum(expected.values())} answered taps, each at central exactly once",
            f"taps and central's events differ: missing {dict(expected - got)}, "
            f"extra {dict(got - expected)}",
        )
        for station_id in STATIONS:
            top = self._station_docs(station_id)[3]
            r.check(
                seqs[station_id] == list(range(1, top + 1)),
                f"{station_id}: events 1..{top} at central, none twice",
                f"{station_id}: central holds seqs {seqs[station_id][:20]}... for a station that "
                f"wrote 1..{top}",
            )
        # 3. Ticket numbers: unique per room and day, in central's queue and among those the
        #    stations issued offline-style from their leased blocks.
        dup_station = [k for k, n in tickets.items() if n > 1]
        r.check(
            not dup_station,
            f"{sum(tickets.values())} station-issued ticket numbers, unique per room and day",
            f"ticket numbers issued twice by stations: {dup_station[:10]}",
        )
        dup_central = self._central_duplicate_tickets()
        r.check(
            not dup_central,
            "central's ticket numbers unique per room and day",
            f"central holds ticket numbers twice: {dup_central[:10]}",
        )
        # 4. Convergence: stations and room boards hold central's latest snapshot versions.
        with contextlib.suppress(OrchestraError):  # reported just below
            wait_until(
                "stations and room boards converged",
                lambda: not self._divergence(),
                30,
                alive=self._alive,
            )
        diverged = self._divergence()
        r.check(
            not diverged,
            f"{len(STATIONS)} stations and {len(self.kiosk_rooms)} room boards hold central's "
            "snapshot versions (stations also its cards, rooms and config directory)",
            f"not converged after 30 s: {diverged[:10]}",
        )
        r.facts.append(
            f"simulation: {dict(live.counts)}; rejects {dict(live.rejects) or 'none'}; "
            f"last lag {live.lag_s:.1f} s"
        )

    def _central_events(self, station_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            status, page = self.live.api_get(
                f"/events?station_id={station_id}&after_id={after}&limit=500"
            )
            if status != 200:
                raise OrchestraError(f"central's event log answered {status}: {page}")
            items.extend(page["items"])
            if page.get("next_after_id") is None:
                return items
            after = int(page["next_after_id"])

    def _central_duplicate_tickets(self) -> list[tuple[Any, ...]]:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.central_db}?mode=ro", uri=True)
        ) as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    "SELECT room_id, service_day, ticket_number, COUNT(*) FROM queue_entries "
                    "GROUP BY room_id, service_day, ticket_number HAVING COUNT(*) > 1"
                ).fetchall()
            ]

    def _central_versions(self) -> dict[str, int]:
        versions: dict[str, int] = {}
        for room_id in self.sim_rooms:
            status, q = self.live.api_get(f"/rooms/{room_id}/queue")
            if status == 200 and isinstance(q, dict):
                versions[room_id] = int(q["version"])
        return versions

    def _central_directory_versions(self) -> dict[str, int]:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.central_db}?mode=ro", uri=True)
        ) as conn:
            rows = conn.execute("SELECT kind, version FROM directory_versions").fetchall()
        return {str(k): int(v) for k, v in rows}

    def _divergence(self) -> list[str]:
        import json

        central = self._central_versions()
        directory = self._central_directory_versions()
        out: list[str] = []
        if len(central) != len(self.sim_rooms) or not directory:
            out.append(f"central answered versions of {len(central)}/{len(self.sim_rooms)} rooms")
        for station_id in STATIONS:
            docs, snaps, _unacked, _top = self._station_docs(station_id)
            for room_id, version in central.items():
                if snaps.get(room_id) != version:
                    out.append(f"{station_id}:{room_id} {snaps.get(room_id)}!={version}")
            for kind in STATION_DOCUMENTS:
                if docs.get(kind) != directory.get(kind):
                    out.append(f"{station_id}:{kind} {docs.get(kind)}!={directory.get(kind)}")
        for room_id in self.kiosk_rooms:
            path = self.workdir / f"kiosk-{room_id}" / "cache" / f"room-{room_id}.json"
            held = None
            with contextlib.suppress(OSError, ValueError, KeyError):
                held = json.loads(json.loads(path.read_text("utf-8"))["payload"])["version"]
            if held != central.get(room_id):
                out.append(f"board {room_id} {held}!={central.get(room_id)}")
        return out

    # ------------------------------------------------------------------ summary

    def _summary(self, r: Results) -> None:
        _say(f"{self.prog}: summary")
        for fact in r.facts:
            _say(f"  ok    {fact}")
        for failure in r.failures:
            _say(f"  FAIL  {failure}")
        if not self.opts.headless or self.opts.duration is None:
            _say("  (invariants are checked with --headless --duration SECONDS)")
        _say(f"{self.prog}: {'invariants held' if not r.failures else 'FAILED'}")


__all__ = ["Demo", "Options", "main"]
