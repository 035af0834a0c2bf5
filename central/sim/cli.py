"""`nfc-hospital simulate`: an outpatient day, offline.

Modes: `pure` runs the simulator's own queue model (fast); `engine` drives central's real
Engine in-process (SQLite, FakeClock, station EventBatches, staff calls); `live` drives a
running system through its real paths (`central.sim.live.LiveQueue`: taps on the stations'
tap endpoints, staff actions through central's REST API) at an accelerated clock.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from central.sim.backend import QueueBackend
from central.sim.config import SimConfig, hospital_timezone, load_sim_config
from central.sim.errors import QueueModelError
from central.sim.events import EventLog, Observer
from central.sim.model import Simulation
from central.sim.summary import Summary, render_table
from protocol.errors import ConfigError

if TYPE_CHECKING:
    from central.sim.engine_backend import EngineQueue
    from central.sim.live import LiveQueue


def main(argv: list[str], prog: str = "nfc-hospital simulate") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Simulate an outpatient day offline, with the simulator's own queue model "
        "(mode 'pure') or central's Engine in-process (mode 'engine'), or against a running "
        "system (mode 'live': taps on the stations, staff actions through central's REST "
        "API; the run's patients and visits must be in central beforehand, as "
        "central.sim.live.hospital_data builds them and `nfc-hospital demo` loads them): "
        "prints a summary table, "
        "writes the summary as JSON and an event log (JSON lines) of taps, calls, starts and "
        "completions.",
    )
    parser.add_argument("--config", type=Path, help="simulation TOML (default: sample hospital)")
    parser.add_argument("--seed", type=int, help="seed (overrides the config)")
    parser.add_argument("--visits", type=int, help="visits booked (overrides the config)")
    parser.add_argument(
        "--staff-multiplier", type=int, help="multiply every room's staff (overrides the config)"
    )
    parser.add_argument(
        "--mode",
        choices=["pure", "engine", "live"],
        default="pure",
        help="'pure': the simulator's own queue model (fast); 'engine': central's Engine "
        "in-process on SQLite; 'live': a running central and stations (default: pure)",
    )
    live = parser.add_argument_group("live mode")
    live.add_argument("--central", metavar="URL", help="central's base URL, e.g. http://host:8080")
    live.add_argument(
        "--station",
        action="append",
        default=[],
        metavar="ID=URL|ID=DIR",
        help="a station's tap endpoint: its loopback base URL (http://127.0.0.1:PORT) or its "
        "data directory (holding http.port); repeat for each station",
    )
    live.add_argument("--user", help="staff account for the queue operations (default: none)")
    secret = live.add_mutually_exclusive_group()
    secret.add_argument("--password", help="the staff account's password")
    secret.add_argument(
        "--password-file", type=Path, help="file holding the staff account's password"
    )
    live.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="simulated seconds per real second (default: 60)",
    )
    parser.add_argument(
        "--database",
        help="engine mode: SQLite file or SQLAlchemy URL (default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--estimator",
        choices=["room-stats", "simple"],
        default="room-stats",
        help="engine mode: the engine's wait estimator (default: room-stats, fed the audit)",
    )
    parser.add_argument(
        "--service-day",
        help="service day YYYY-MM-DD (overrides the config; live: central's service day, for "
        "which the run's visits were loaded)",
    )
    parser.add_argument("--summary", type=Path, help="write the summary JSON here")
    parser.add_argument("--events", type=Path, help="write the event log (JSON lines) here")
    parser.add_argument("--print-config", action="store_true", help="print the config and exit")
    parser.add_argument("--quiet", action="store_true", help="no table on stdout")
    args = parser.parse_args(argv)

    try:
        config = load_sim_config(args.config)
        overrides = {
            k: v
            for k, v in (
                ("seed", args.seed),
                ("visits", args.visits),
                ("staff_multiplier", args.staff_multiplier),
                ("service_day", args.service_day),
            )
            if v is not None
        }
        if args.mode == "live" and args.config is None:
            # Hallway stations check a patient in to their next room wherever they tap: the
            # sample day's wrong-station taps cannot happen live (as `nfc-hospital demo` does).
            overrides["wrong_station_rate"] = 0.0
        if overrides:
            config = type(config).model_validate({**config.model_dump(), **overrides})
        timezone = hospital_timezone(config.hospital_file)
        live_opts = _live_options(args, config) if args.mode == "live" else None
    except (ConfigError, ValueError, OSError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        print(config.model_dump_json(indent=2))
        return 0

    summary = Summary()
    observers: list[Observer] = [summary]
    midnight = datetime.combine(config.service_day, dtime(0), tzinfo=ZoneInfo(timezone))
    extra: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if args.events:
            log_file = stack.enter_context(args.events.open("w", encoding="utf-8"))
            observers.append(EventLog(log_file, midnight))
        started = time.perf_counter()
        try:
            backend: QueueBackend | None = None
            engine_queue: EngineQueue | None = None
            live_queue: LiveQueue | None = None
            if args.mode == "engine":
                backend = engine_queue = _engine_backend(stack, config, timezone, midnight, args)
            elif live_opts is not None:
                backend = live_queue = _live_backend(live_opts)
            sim = Simulation(
                config, random.Random(config.seed), backend=backend, observers=observers
            )
        except ConfigError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        except _Unreachable as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 3
        try:
            n_steps = sim.run()
        except QueueModelError as e:
            if live_queue is None:
                raise
            # LiveError: the running system answered something the run cannot go on with.
            print(f"{prog}: live run stopped: {e}", file=sys.stderr)
            return 1
        elapsed = time.perf_counter() - started
        if engine_queue is not None:
            extra = {
                "engine_operations": engine_queue.operations,
                "engine_rejects": dict(sorted(engine_queue.rejects.items())),
            }
        if live_queue is not None:
            extra = {
                "live_operations": dict(sorted(live_queue.counts.items())),
                "live_rejects": dict(sorted(live_queue.rejects.items())),
                "speed": live_queue.speed,
            }

    data = summary.to_dict()
    data["run"] = {
        "mode": args.mode,
        "seed": config.seed,
        "service_day": config.service_day.isoformat(),
        "steps": n_steps,
        **extra,
    }
    if args.summary:
        args.summary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        print(render_table(data), end="")
        print(
            f"\n{data['events']} events ({n_steps} simulation steps) in {elapsed:.2f} s "
            f"(seed {config.seed}, mode {args.mode})"
        )
    return 0


def _engine_backend(
    stack: contextlib.ExitStack,
    config: SimConfig,
    timezone: str,
    midnight: datetime,
    args: argparse.Namespace,
) -> EngineQueue:
    # Imported here: the pure mode needs no database libraries.
    from central.clock import FakeClock
    from central.estimator import RoomStatsEstimator, local_clock
    from central.sim.engine_backend import EngineQueue

    clock = FakeClock(midnight + timedelta(hours=5))
    url = args.database
    if url is None:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="nfch-sim-"))
        url = str(Path(tmp) / "central.db")
    estimator = None
    if args.estimator == "room-stats":
        estimator = RoomStatsEstimator(clock=clock, local=local_clock(timezone))
    backend = EngineQueue(
        config, url, timezone=timezone, estimator=estimator, seed=config.seed, clock=clock
    )
    stack.callback(backend.close)
    return backend


class _Unreachable(Exception):
    """Central or a station did not answer before the live run."""


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """The live mode's parsed, checked options."""

    central_url: str
    stations: list[tuple[str, int]]
    login: tuple[str, str] | None
    speed: float


def _live_options(args: argparse.Namespace, config: SimConfig) -> LiveOptions:
    if not args.central:
        raise ValueError("--mode live needs --central URL (central's base URL)")
    url = urllib.parse.urlsplit(args.central)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"--central {args.central!r}: not an http(s) base URL")
    if not args.station:
        raise ValueError("--mode live needs at least one --station ID=URL or ID=DIR")
    stations = [_station(spec) for spec in args.station]
    ids = [s for s, _ in stations]
    if len(set(ids)) != len(ids):
        raise ValueError(f"--station: a station id is given twice: {', '.join(ids)}")
    if not args.speed > 0:
        raise ValueError(f"--speed {args.speed}: must be positive")
    if config.wrong_station_rate > 0:
        # Hallway stations check a patient in wherever they tap: no wrong station live.
        raise ValueError("live mode cannot simulate wrong-station taps: set wrong_station_rate = 0")
    login: tuple[str, str] | None = None
    if (args.password is not None or args.password_file is not None) and not args.user:
        raise ValueError("--password/--password-file given without --user")
    if args.user:
        if args.password_file is not None:
            try:
                password = args.password_file.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ValueError(f"--password-file {args.password_file}: {e.strerror}") from None
        elif args.password is not None:
            password = args.password
        else:
            raise ValueError(f"--user {args.user!r} needs --password or --password-file")
        login = (args.user, password)
    return LiveOptions(args.central.rstrip("/"), stations, login, float(args.speed))


def _station(spec: str) -> tuple[str, int]:
    station_id, sep, where = spec.partition("=")
    if not sep or not station_id or not where:
        raise ValueError(f"--station {spec!r}: expected ID=URL or ID=DIR")
    if "://" in where:
        url = urllib.parse.urlsplit(where)
        # The live backend taps on the station's loopback port (the tap endpoint listens there).
        if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(
                f"--station {spec!r}: the tap endpoint is http on 127.0.0.1 (or a data dir)"
            )
        try:
            port = url.port
        except ValueError:
            port = None
        if port is None:
            raise ValueError(f"--station {spec!r}: the URL has no valid port")
        return station_id, port
    port_file = Path(where) / "http.port"
    try:
        text = port_file.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ValueError(
            f"--station {spec!r}: cannot read {port_file} ({e.strerror}); is the station running?"
        ) from None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"--station {spec!r}: {port_file} holds no port: {text[:40]!r}")
    return station_id, int(text)


def _probe(what: str, url: str, timeout_s: float = 5.0) -> None:
    req = urllib.request.Request(url, method="GET")  # noqa: S310 - operator-given URL
    try:
        with urllib.request.urlopen(req, timeout=timeout_s):  # noqa: S310
            return
    except urllib.error.HTTPError:
        return  # it answered: reachable (the run reports what the answer means)
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise _Unreachable(f"{what} is unreachable at {url}: {reason}") from None


def _live_backend(opts: LiveOptions) -> LiveQueue:
    import threading

    from central.sim.live import LiveQueue, Station

    _probe("central", f"{opts.central_url}/healthz")
    for station_id, port in opts.stations:
        _probe(f"station {station_id}", f"http://127.0.0.1:{port}/healthz")
    return LiveQueue(
        opts.central_url,
        [Station(s, p) for s, p in opts.stations],
        speed=opts.speed,
        stop=threading.Event(),
        login=opts.login,
    )
