"""The cards directory built in a child process reaches the broker, retained, and matches
what the engine says; the child is stopped with central."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest

from protocol.codec import decode_directory, encode
from protocol.messages import DirectoryCards
from protocol.mqtt import MqttLink
from tests.support.central_harness import (
    Collector,
    EventFactory,
    central_config,
    mqtt_settings,
    running_central,
    seeded_engine,
    start_link,
)

pytestmark = pytest.mark.integration


async def test_cards_directory_from_the_worker_process(tmp_path, broker, topics):
    config = central_config(tmp_path, broker.port, topics.root)
    config = config.model_copy(
        update={
            "bridge": config.bridge.model_copy(
                update={"cards_in_worker": True, "cards_interval_s": 0}
            )
        }
    )
    engine, sample = seeded_engine(config, patients=10)
    visit = sample.data.visits[0].visit_id
    rx = Collector()
    link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "watch-cards",
        subscriptions=[(topics.directory("cards"), 1)],
        on_message=rx,
    )
    try:
        async with running_central(config, engine), asyncio.TaskGroup() as tg:
            task = await start_link(tg, link, "watch")
            first = decode_directory((await rx.wait_for(lambda m: True, 60)).payload)
            assert isinstance(first, DirectoryCards)
            assert len(first.cards) == 10
            assert {c.visit_id for c in first.cards} == {v.visit_id for v in sample.data.visits}
            # A check-in changes the directory: the worker's next build shows it.
            st = EventFactory("st-cards", engine.site_key)
            batch = st.batch([st.check_in(engine, sample, visit)])
            await link.publish(topics.station("st-cards", "events"), encode(batch))

            def shows_waiting(m) -> bool:
                doc = decode_directory(m.payload)
                assert isinstance(doc, DirectoryCards)
                entry = next(c for c in doc.cards if c.visit_id == visit)
                return entry.state == "WAITING" and entry.ticket_number is not None

            await rx.wait_for(shows_waiting, 60)
            assert multiprocessing.active_children()
            task.cancel()
    finally:
        engine.close()
    assert not multiprocessing.active_children(), "the cards worker outlived central"
