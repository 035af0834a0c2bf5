"""`nfc-hospital simulate`: an outpatient day, offline.

Modes: `pure` runs the simulator's own queue model (fast); `engine` drives central's real
Engine in-process (SQLite, FakeClock, station EventBatches, staff calls). A live system
(simulated edge readers + the REST API) would plug in as another `QueueBackend`; it is not
built yet.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from central.sim.backend import QueueBackend
from central.sim.config import SimConfig, hospital_timezone, load_sim_config
from central.sim.events import EventLog, Observer
from central.sim.model import Simulation
from central.sim.summary import Summary, render_table
from protocol.errors import ConfigError

if TYPE_CHECKING:
    from central.sim.engine_backend import EngineQueue


def main(argv: list[str], prog: str = "nfc-hospital simulate") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Simulate an outpatient day offline, with the simulator's own queue model "
        "(mode 'pure') or central's Engine in-process (mode 'engine'): prints a summary table, "
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
        choices=["pure", "engine"],
        default="pure",
        help="'pure': the simulator's own queue model (fast); 'engine': central's Engine "
        "in-process on SQLite (default: pure)",
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
            )
            if v is not None
        }
        if overrides:
            config = type(config).model_validate({**config.model_dump(), **overrides})
        timezone = hospital_timezone(config.hospital_file)
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
            if args.mode == "engine":
                backend = engine_queue = _engine_backend(stack, config, timezone, midnight, args)
            sim = Simulation(
                config, random.Random(config.seed), backend=backend, observers=observers
            )
        except ConfigError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        n_steps = sim.run()
        elapsed = time.perf_counter() - started
        if engine_queue is not None:
            extra = {
                "engine_operations": engine_queue.operations,
                "engine_rejects": dict(sorted(engine_queue.rejects.items())),
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
