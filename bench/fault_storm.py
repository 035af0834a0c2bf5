"""`nfc-hospital bench fault-storm`: the partition and kill storm, long version.

Central (SQLite), N station daemons and a private Mosquitto run as separate processes; taps
stream from the sample cards while the broker is SIGKILLed and restarted at seeded random
moments, one station at a time is SIGKILLed and restarted, central is SIGKILLed and restarted
once, and (with `--proxy`) stations talk to the broker through a TCP fault proxy that delays,
stalls, cuts and partitions, and (with `--disk-full`, root only) one station's data folder is
on an 8 MB tmpfs that is filled to the last byte a third of the way into the stream and freed
two thirds in. After healing, the history checker (tests/support/history.py)
runs. Prints taps, faults, lost, duplicated, storm time and time to converge; exits 1 when an
invariant broke. Needs a source checkout (the cluster helpers live in tests/support).
"""

from __future__ import annotations

import argparse
import contextlib
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
    parser.add_argument(
        "--disk-full",
        action="store_true",
        help="one station's disk fills up mid-storm and is freed later (needs root: tmpfs)",
    )
    parser.add_argument("--keep", type=Path, help="keep the working folder (logs, databases)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nfch-storm-") as tmp, contextlib.ExitStack() as stack:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data_dirs: dict[str, Path] = {}
        side = None
        if args.disk_full:
            try:
                disk = stack.enter_context(_cluster.mount_tmpfs(work / "tiny-disk", "8m"))
            except PermissionError as e:
                print(f"fault-storm --disk-full: {e}")
                return 2
            data_dirs[_cluster.FULL_DISK_STATION] = disk / "data"
            side = _cluster.DiskFull(disk, args.taps)
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
            data_dirs=data_dirs,
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
            result = _cluster.run_storm(cluster, plan, side=side)
            report = _history.check(result.history, cluster.central_db, cluster.station_dbs)
        finally:
            cluster.close()
            broker.close()
    proxy_drops = sum(p.drops for p in cluster.proxies.values())
    print(
        f"fault-storm stations={args.stations} seed={args.seed} proxy={args.proxy} "
        f"disk_full={args.disk_full}"
    )
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
    if side is not None and side.filled_at is not None and side.freed_at is not None:
        mine = [o for o in result.history.ops if o.station_id == _cluster.FULL_DISK_STATION]
        full = [o for o in mine if side.filled_at < o.invoked_at < side.freed_at]
        refused = sum(o.status == "fail" for o in full)
        after = [o.completed_at for o in mine if o.invoked_at > side.freed_at and o.status == "ok"]
        recover = f"{min(after) - side.freed_at:.2f} s" if after else "never"
        print(
            f"  disk full           {side.freed_at - side.filled_at:.1f} s on "
            f"{_cluster.FULL_DISK_STATION}: {len(full)} taps, {refused} refused, alarm "
            f"{'seen' if side.health_full else 'NOT seen'}, first tap after freeing {recover}"
        )
        if side.crashed is not None:
            print(f"  daemon died         {side.crashed[:160]} (restarted once space was back)")
        if not refused or side.health_full is None or not after:
            report.problems.append("the full disk was not refused, alarmed and recovered")
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    return 1 if report.problems else 0
