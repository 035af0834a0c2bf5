"""Central killed with SIGKILL in the middle of a stream of batches, then restarted: with a
station that resends until acked, nothing is lost and nothing is applied twice. Also: the
ordered SIGTERM shutdown, and a failing start exits non-zero."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

import pytest

from central.app import open_engine
from tests.support.central_harness import (
    CentralProcess,
    EventFactory,
    central_config,
    mqtt_settings,
    seeded_engine,
)
from tests.support.resending_station import ResendingTestStation

pytestmark = [pytest.mark.fault, pytest.mark.integration]

STATION = "st-fault"
EVENTS = 120


def _check_ins(config, n: int):
    engine, sample = seeded_engine(config, patients=n)
    try:
        factory = EventFactory(STATION, engine.site_key)
        events = [factory.check_in(engine, sample, v.visit_id) for v in sample.data.visits]
    finally:
        engine.close()
    return events


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_central_stopped_mid_stream_loses_nothing_and_duplicates_nothing(
    tmp_path, broker, topic_root, how
):
    config = central_config(tmp_path, broker.port, topic_root)
    events = _check_ins(config, EVENTS)
    central = CentralProcess(config, tmp_path)
    station = ResendingTestStation(
        mqtt_settings(broker.port, topic_root), STATION, events, batch_size=4, tick_s=0.03
    )
    try:
        central.start()
        await central.wait_ready()
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(station.run(), name="station")
            await station.wait_acked(EVENTS // 4, limit_s=30)
            if how == "sigkill":
                central.kill()  # mid-stream: batches keep coming, some in flight
            else:
                # Graceful: the batch in flight commits and is acked; the rest wait.
                assert await asyncio.to_thread(central.terminate) == 0
            killed_at = station.acked_through
            assert killed_at < EVENTS, "the stream ended before the kill; make it longer"
            central.start()
            await central.wait_ready()
            await station.wait_acked(EVENTS, limit_s=60)
            await run
        assert central.terminate() == 0
    finally:
        central.close()
    assert central.starts == 2
    if how == "sigterm":
        assert "step=batch_committed_and_acked ok=True" in central.log()

    db = tmp_path / "central.db"
    with sqlite3.connect(db) as conn:
        seqs = [
            r[0]
            for r in conn.execute(
                "SELECT station_seq FROM events WHERE station_id = ? ORDER BY station_seq",
                (STATION,),
            )
        ]
        check_in_audits = conn.execute(
            "SELECT visit_id, count(*) FROM audit_log WHERE action = 'check_in' GROUP BY visit_id"
        ).fetchall()
        tickets = conn.execute(
            "SELECT room_id, ticket_number FROM queue_entries WHERE state = 'WAITING'"
        ).fetchall()
    assert seqs == list(range(1, EVENTS + 1)), "an event was lost or applied twice"
    assert len(check_in_audits) == EVENTS
    assert all(n == 1 for _v, n in check_in_audits), "a check-in was applied twice"
    assert len(tickets) == EVENTS
    assert len(set(tickets)) == EVENTS, "a ticket number was issued twice in one room"
    engine = open_engine(config)
    try:
        for e in events:
            assert engine.visit(e.visit_id).queue_state == "WAITING"
    finally:
        engine.close()


async def test_sigterm_shuts_down_in_logged_steps(tmp_path, broker, topic_root):
    config = central_config(tmp_path, broker.port, topic_root)
    engine, _sample = seeded_engine(config, patients=5)
    engine.close()
    central = CentralProcess(config, tmp_path)
    try:
        central.start()
        await central.wait_ready()
        assert central.terminate() == 0
    finally:
        central.close()
    log = central.log()
    steps = [
        "step=stopped_taking_batches",
        "step=http_closed",
        "step=batch_committed_and_acked ok=True",
        "step=publisher_flushed ok=True",
        "step=mqtt_disconnected",
        "step=database_closed",
        "central.stopped",
    ]
    positions = [log.find(s) for s in steps]
    assert all(p >= 0 for p in positions), log
    assert positions == sorted(positions), log
    assert (tmp_path / "site.key").stat().st_mode & 0o777 == 0o600


def test_a_central_that_cannot_start_exits_non_zero(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database folder should be")
    config = central_config(tmp_path, 1, "t", db_url=f"sqlite:///{blocker}/central.db")
    path = tmp_path / "central.toml"
    from protocol.config import render_config

    path.write_text(render_config(config))
    result = subprocess.run(
        [sys.executable, "-m", "nfc_hospital", "central", "--config", str(path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert b"central.crashed" in result.stderr
