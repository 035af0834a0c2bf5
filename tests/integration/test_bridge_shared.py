"""Two central workers on one database, sharing station events through `$share/...`:
each batch is applied by one of them, every event exactly once, every batch acked."""

from __future__ import annotations

import asyncio

import pytest

from central.app import open_engine
from tests.support.central_harness import (
    EventFactory,
    central_config,
    mqtt_settings,
    running_central,
    seeded_engine,
)
from tests.support.resending_station import ResendingTestStation

pytestmark = pytest.mark.integration

EVENTS = 60


async def test_two_workers_split_the_batches_and_apply_each_once(tmp_path, broker, topic_root):
    config = central_config(tmp_path, broker.port, topic_root)
    config = config.model_copy(
        update={"bridge": config.bridge.model_copy(update={"shared_subscription": True})}
    )
    engine_a, sample = seeded_engine(config, patients=EVENTS)
    engine_b = open_engine(config)
    other = config.model_copy(
        update={"mqtt": config.mqtt.model_copy(update={"client_id": config.mqtt.client_id + "b"})}
    )
    factory = EventFactory("st-shared", engine_a.site_key)
    events = [factory.check_in(engine_a, sample, v.visit_id) for v in sample.data.visits]
    station = ResendingTestStation(
        mqtt_settings(broker.port, topic_root), "st-shared", events, batch_size=2, window=60
    )
    try:
        async with (
            running_central(config, engine_a) as a,
            running_central(other, engine_b) as b,
            asyncio.TaskGroup() as tg,
        ):
            run = tg.create_task(station.run(), name="station")
            await station.wait_acked(EVENTS, limit_s=60)
            await run
            assert a.bridge is not None
            assert b.bridge is not None
            # The broker hands each worker its share; a worker that was slow (its assistant
            # warming up in a thread, a loaded machine) may apply its share only after the
            # station's resends went to the other one, as duplicates: wait for it.
            deadline = asyncio.get_running_loop().time() + 30
            while not (a.bridge.batches_applied > 0 and b.bridge.batches_applied > 0):
                assert asyncio.get_running_loop().time() < deadline, (
                    a.bridge.batches_applied,
                    b.bridge.batches_applied,
                )
                await asyncio.sleep(0.05)
        seqs = [e.station_seq for e in engine_a.events(station_id="st-shared", limit=1000)]
        assert sorted(seqs) == list(range(1, EVENTS + 1))
        for e in events:
            assert engine_a.visit(e.visit_id).queue_state == "WAITING"
    finally:
        engine_a.close()
        engine_b.close()
