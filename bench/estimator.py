"""`nfc-hospital bench estimator`: wait-estimator error vs. baselines on simulated days, and
how fast the simulator plays a 10,000-visit day.

Figures: MAE of the estimator and of three baselines (fixed 10 minutes, rolling mean of recent
waits, place in line x configured mean service / staff), the share of waits above the 95%
bound, and the time per estimate. See docs/estimator.md for the method and
docs/benchmarks/estimator.md for measured figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time

from central.estimator.evaluate import ESTIMATOR, evaluate, render
from central.sim.config import SimConfig
from central.sim.model import Simulation
from central.sim.summary import Summary


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def run(argv: list[str]) -> int:
    """Run the evaluation and print its tables; 0 when every target is met, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="nfc-hospital bench estimator", description=__doc__)
    parser.add_argument("--seeds", default="101-110", help="seeds, e.g. 1-5,9 (default 101-110)")
    parser.add_argument("--days", type=int, default=3, help="days per seed (default 3)")
    parser.add_argument("--warmup-days", type=int, default=1, help="unscored days (default 1)")
    parser.add_argument(
        "--loads",
        default="300,450,600",
        help="visits per day to evaluate, comma-separated (default 300,450,600)",
    )
    parser.add_argument(
        "--sim-visits", type=int, default=10_000, help="visits of the simulator speed run"
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (CI)")
    args = parser.parse_args(argv)
    seeds, days, loads = _seeds(args.seeds), args.days, [int(x) for x in args.loads.split(",")]
    sim_visits = args.sim_visits
    if args.quick:
        seeds, days, loads, sim_visits = seeds[:1], 2, [150], 1000

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), "
        f"{days} days each, first {args.warmup_days} not scored\n"
    )
    ok = True
    for visits in loads:
        started = time.perf_counter()
        result = evaluate(SimConfig(visits=visits), seeds, days=days, warmup_days=args.warmup_days)
        print(f"== {visits} visits a day ({time.perf_counter() - started:.1f} s) ==")
        print(render(result))
        for scores, snaps in ((result.scores, False), (result.snapshot_scores, True)):
            est = scores[ESTIMATOR]
            _name, best = result.best_baseline(snaps)
            ok &= est.n > 0 and est.mae_s <= 0.7 * best and est.above95 <= 0.05 * est.n
        ok &= result.us_per_estimate <= 1000

    # The simulator alone: a big day (staff scaled so the day ends) in the pure model.
    multiplier = max(1, sim_visits // 500)
    config = SimConfig(visits=sim_visits, staff_multiplier=multiplier)
    summary = Summary()
    started = time.perf_counter()
    steps = Simulation(config, random.Random(1), observers=[summary]).run()
    elapsed = time.perf_counter() - started
    print(
        f"simulator (pure model): {sim_visits} visits, staff x{multiplier}: {summary.events} "
        f"events ({steps} steps) in {elapsed:.2f} s"
    )
    print("targets met" if ok else "a target was missed")
    return 0 if ok else 1
