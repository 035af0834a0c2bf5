"""Central SIGKILLed again and again while a station's batches are being committed (extends
test_central_kill.py, which kills it once): after each restart the station resends what was
not acked, and in the end every event is in central's database exactly once, seqs have no
gap, each check-in has one audit row and every ticket number is unique in its room."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import pytest

from tests.fault.test_central_kill import STATION
from tests.fault.test_central_kill import _check_ins as check_ins
from tests.support.central_harness import (
    CentralProcess,
    central_config,
    mqtt_settings,
)
from tests.support.history import central_events, ticket_problems
from tests.support.resending_station import ResendingTestStation

pytestmark = [pytest.mark.fault, pytest.mark.integration]


async def kill_loop(tmp_path, broker, topic_root, events_n: int, kills: int) -> None:
    config = central_config(tmp_path, broker.port, topic_root)
    events = check_ins(config, events_n)  # the single-kill test's stream, longer
    central = CentralProcess(config, tmp_path)
    station = ResendingTestStation(
        mqtt_settings(broker.port, topic_root), STATION, events, batch_size=3, tick_s=0.02
    )
    rng = random.Random(5)
    kill_points = sorted(rng.sample(range(5, events_n - 5), kills))
    killed_at: list[int] = []
    try:
        central.start()
        await central.wait_ready()
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(station.run(), name="station")
            for point in kill_points:
                await station.wait_acked(point, limit_s=60)
                # A random extra moment so the kill lands inside a commit as well as between.
                await asyncio.sleep(rng.uniform(0, 0.05))
                central.kill()
                killed_at.append(station.acked_through)
                central.start()
                await central.wait_ready()
            await station.wait_acked(events_n, limit_s=90)
            await run
        assert central.terminate() == 0
    finally:
        central.close()
    assert central.starts == kills + 1
    assert any(k < events_n for k in killed_at), "every kill came after the stream ended"
    db = tmp_path / "central.db"
    seqs = [e.station_seq for e in central_events(db) if e.station_id == STATION]
    assert seqs == list(range(1, events_n + 1)), "an event was lost or applied twice"
    assert ticket_problems(db, central_events(db)) == []
    with sqlite3.connect(db) as conn:
        audits = dict(
            conn.execute(
                "SELECT visit_id, count(*) FROM audit_log WHERE action = 'check_in' "
                "GROUP BY visit_id"
            ).fetchall()
        )
        (acked,) = conn.execute(
            "SELECT acked_through FROM stations WHERE station_id = ?", (STATION,)
        ).fetchone()
    assert audits == {e.visit_id: 1 for e in events}, "a check-in was lost or applied twice"
    assert acked == events_n


async def test_central_killed_in_a_loop_during_writes(tmp_path, broker, topic_root):
    await kill_loop(tmp_path, broker, topic_root, events_n=120, kills=4)


@pytest.mark.slow
async def test_central_killed_in_a_loop_soak(tmp_path, broker, topic_root):
    await kill_loop(tmp_path, broker, topic_root, events_n=1000, kills=30)
