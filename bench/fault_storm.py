"""`nfc-hospital bench fault-storm`: the partition and kill storm, long version.

Central (SQLite), N station daemons and a private Mosquitto run as separate processes; taps
stream from the sample cards while the broker is SIGKILLed and restarted at seeded random
moments, one station at a time is SIGKILLed and restarted, central is SIGKILLed and restarted
once, and (with `--proxy`) stations talk to the broker through a TCP fault proxy that delays,
stalls, cuts and partitions. After healing, the history checker (tests/support/history.py)
runs. Prints taps, faults, lost, duplicated, storm time and time to converge; exits 1 when an
invariant broke. Needs a source checkout (the cluster helpers live in tests/support).
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path
from typing import Any

# Test support code (tests/support), outside the packaged code and mypy's scope: loaded by
# name so this bench type-checks on its own.
_cluster: Any = importlib.import_module("tests.support.cluster")
_history: Any = importlib.import_module("tests.support.history")
_mosquitto: Any = importlib.import_module("tests.support.mosquitto")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nfc-hospital bench fault-storm", description=__doc__)
    parser.add_argument("--taps", type=int, default=10_000, help="taps in all (default 10000)")
    parser.add_argument("--stations", type=int, default=3, help="station daemons (max 4)")
    parser.add_argument("--seed", type=int, default=2, help="seed of taps and faults")
    parser.add_argument("--proxy", action="store_true", help="stations behind the fault proxy")
    parser.add_argument("--keep", type=Path, help="keep the working folder (logs, databases)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nfch-storm-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        broker = _mosquitto.MosquittoBroker(work / "mosquitto")
        broker.start()
        faults = _cluster.ProxyFaults(drop_p=0.002, stall_p=0.002) if args.proxy else None
        cluster = _cluster.Cluster(
            work,
            broker,
            f"storm{int(time.time())}/nfch",
            stations=args.stations,
            patients=200,
            proxy_faults=faults,
            seed=args.seed,
        )
        plan = _cluster.StormPlan(
            taps=args.taps,
            seed=args.seed,
            fault_gap_s=(0.5, 3.0),
            partitions=args.proxy,
            converge_limit_s=300,
        )
        try:
            cluster.start()
            result = _cluster.run_storm(cluster, plan)
            report = _history.check(result.history, cluster.central_db, cluster.station_dbs)
        finally:
            cluster.close()
            broker.close()
    proxy_drops = sum(p.drops for p in cluster.proxies.values())
    print(f"fault-storm stations={args.stations} seed={args.seed} proxy={args.proxy}")
    print(f"  taps                {report.taps}")
    print(f"  acknowledged        {report.ok}")
    print(f"  refused             {report.fail}")
    print(f"  indeterminate       {report.info} (applied {report.info_applied})")
    print(f"  faults              {dict(result.faults)} proxy_cuts={proxy_drops}")
    print(f"  lost                {report.lost}")
    print(f"  duplicated          {report.duplicated}")
    print(f"  events at central   {report.events_at_central}")
    print(f"  storm time          {result.storm_s:.1f} s")
    print(f"  time to converge    {result.converge_s:.2f} s (stations: outboxes, snapshots)")
    print(f"  new observer        {result.observer_s:.2f} s (retained snapshots = central's)")
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    return 1 if report.problems else 0
