"""A station's disk fills up in the middle of the kill storm (issue #10, crash consistency).

The partition and kill storm of test_storm_partition_kill.py (central, three station
daemons and Mosquitto as processes; broker and station SIGKILLs), with one station's data
folder on a small tmpfs. A third of the way into the stream the tmpfs is filled to the last
byte; two thirds in, the filler is deleted. What must hold:

- while full, that station refuses taps openly (503, the `refused` screen sending the
  patient to reception) and its /healthz says 503 with the `disk_full` alarm;
- after space returns it takes taps again without a restart, and the alarm clears;
- the history checker: every tap that got feedback is at central exactly once, refused taps
  never, no seq gap, no ticket twice, everything converges.

The full station is not SIGKILLed while its disk is full (a daemon that cannot open its
database at start is another test: test_crash_station.py); the others are, and the broker.
Needs root to mount the tmpfs; skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import FULL_DISK_STATION as FULL_STATION
from tests.support.cluster import Cluster, DiskFull, StormPlan, mount_tmpfs, run_storm
from tests.support.history import check

pytestmark = [pytest.mark.fault, pytest.mark.integration]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    try:
        with mount_tmpfs(tmp_path / "tiny", "8m") as mount_point:
            yield mount_point
    except PermissionError as e:
        pytest.skip(str(e))


def storm_with_full_disk(
    tmp_path: Path, broker, topic_root: str, disk: Path, plan: StormPlan
) -> None:
    cluster = Cluster(
        tmp_path,
        broker,
        topic_root,
        stations=3,
        patients=60,
        seed=plan.seed,
        data_dirs={FULL_STATION: disk / "data"},
    )
    side = DiskFull(disk, plan.taps)
    try:
        cluster.start()
        result = run_storm(cluster, plan, side=side)
        report = check(result.history, cluster.central_db, cluster.station_dbs)
        log = cluster.stations[FULL_STATION].daemon.log()
    finally:
        cluster.close()
    ops = [op for op in result.history.ops if op.station_id == FULL_STATION]
    assert side.filled_at is not None
    assert side.freed_at is not None
    while_full = [op for op in ops if side.filled_at < op.invoked_at < side.freed_at]
    refused = [op for op in while_full if op.status == "fail" and op.screen == "refused"]
    after = [op for op in ops if op.invoked_at > side.freed_at and op.status == "ok"]
    first_ok = min((op.completed_at or 0.0) for op in after) if after else None
    recover_s = first_ok - side.freed_at if first_ok is not None else float("nan")
    print(
        f"disk-full storm taps={plan.taps} faults={dict(result.faults)} "
        f"storm_s={result.storm_s:.1f} converge_s={result.converge_s:.2f} "
        f"observer_s={result.observer_s:.2f} full_station_taps={len(ops)} "
        f"while_full={len(while_full)} refused={len(refused)} "
        f"ok_after={len(after)} recover_s={recover_s:.2f} filled={side.filled_bytes} "
        f"crashed={side.crashed!r} "
        f"{report.summary()}"
    )
    assert not report.problems, f"{report.summary()}\n" + "\n".join(report.problems)
    assert refused, f"no tap was refused while the disk was full: {while_full[:5]}"
    assert side.crashed is None, f"the station daemon died on the full disk: {side.crashed}"
    assert side.health_full is not None, "the disk_full alarm never showed in /healthz"
    assert side.health_after is not None, "the disk_full alarm never cleared"
    assert after, "the station took no tap after space came back"
    assert "tap.refused" in log
    assert "disk_full" in log
    assert result.faults["disk_full"] == 1
    assert result.faults["broker_kill"] >= 1, result.faults
    assert result.faults["station_kill"] >= 1, result.faults


def test_disk_full_mid_storm_loses_nothing_and_recovers(
    tmp_path: Path, broker, topic_root: str, tiny_disk: Path
) -> None:
    storm_with_full_disk(
        tmp_path,
        broker,
        topic_root,
        tiny_disk,
        StormPlan(taps=600, seed=5, central_kill=False),
    )


@pytest.mark.slow
def test_disk_full_mid_storm_long(tmp_path: Path, broker, topic_root: str, tiny_disk: Path) -> None:
    storm_with_full_disk(
        tmp_path,
        broker,
        topic_root,
        tiny_disk,
        StormPlan(taps=5000, seed=6, fault_gap_s=(0.5, 3.0), converge_limit_s=180),
    )
