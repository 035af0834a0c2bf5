"""`nfc-hospital simulate`: an outpatient day, offline.

Modes: `pure` runs the simulator's own queue model (fast). Driving central's Engine in-process
and a live system (simulated readers + REST API) plug in as other `QueueBackend`s; they are not
built yet (see docs/estimator.md).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from central.sim.config import hospital_timezone, load_sim_config
from central.sim.events import EventLog, Observer
from central.sim.model import Simulation
from central.sim.summary import Summary, render_table
from protocol.errors import ConfigError


def main(argv: list[str], prog: str = "nfc-hospital simulate") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Simulate an outpatient day offline with the simulator's own queue model "
        "(mode 'pure'): prints a summary table, writes the summary as JSON and an event log "
        "(JSON lines) of taps, calls, starts and completions.",
    )
    parser.add_argument("--config", type=Path, help="simulation TOML (default: sample hospital)")
    parser.add_argument("--seed", type=int, help="seed (overrides the config)")
    parser.add_argument("--visits", type=int, help="visits booked (overrides the config)")
    parser.add_argument(
        "--staff-multiplier", type=int, help="multiply every room's staff (overrides the config)"
    )
    parser.add_argument(
        "--mode", choices=["pure"], default="pure", help="queue model to drive (default: pure)"
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
    log_file = args.events.open("w", encoding="utf-8") if args.events else None
    try:
        if log_file is not None:
            observers.append(EventLog(log_file, midnight))
        started = time.perf_counter()
        try:
            sim = Simulation(config, random.Random(config.seed), observers=observers)
        except ConfigError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        n_steps = sim.run()
        elapsed = time.perf_counter() - started
    finally:
        if log_file is not None:
            log_file.close()

    data = summary.to_dict()
    data["run"] = {
        "mode": args.mode,
        "seed": config.seed,
        "service_day": config.service_day.isoformat(),
        "steps": n_steps,
    }
    if args.summary:
        args.summary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        print(render_table(data), end="")
        print(
            f"\n{data['events']} events ({n_steps} simulation steps) in {elapsed:.2f} s "
            f"(seed {config.seed})"
        )
    return 0
