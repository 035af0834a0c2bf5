"""A day's cards document over a real Mosquitto: stored card by card, all or nothing, with
Python memory for the payload and its text rather than for 10,000 decoded cards."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from edge.config import EdgeConfig
from edge.readers.base import CardRead
from edge.station import Station
from edge.store.db import StationStore
from edge.sync import Syncer
from protocol.codec import encode
from protocol.journey import State
from tests.support.edge_world import FakeCentral, cards, config, lease, rooms, uid
from tests.support.factories import SITE_KEY

pytestmark = pytest.mark.integration

N = 10_000


def make(tmp_path: Path, port: int, root: str) -> tuple[Station, Syncer]:
    cfg = EdgeConfig.model_validate(
        {
            "station_id": "st-1",
            "data_dir": str(tmp_path / "data"),
            "mqtt": {"port": port, "topic_root": root, "reconnect_min_s": 0.2},
        }
    )
    store = StationStore(cfg.data_dir / "station.sqlite3")
    return (station := Station("st-1", store, SITE_KEY, location_node="st-1")), Syncer(cfg, station)


async def until(cond, within: float = 60) -> None:
    """Poll station state with a deadline (applying a document has no event of its own)."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def bad_count() -> float:
    labels = {"source": "mqtt", "reason": "invalid"}
    return REGISTRY.get_sample_value("nfch_edge_bad_messages_total", labels) or 0.0


def stored_cards(station: Station) -> list[tuple[str, str]]:
    return station.store.conn.execute("SELECT card_hash, entry FROM cards ORDER BY 1").fetchall()


async def test_a_day_of_cards_arrives_card_by_card_and_a_bad_one_changes_nothing(
    tmp_path, broker, topics
):
    station, syncer = make(tmp_path, broker.port, topics.root)
    central = FakeCentral(broker.port, topics)
    day = cards(N, state=State.REGISTERED, version=1)
    payload = encode(day)
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        for doc in (rooms(), config(low_water=1)):
            await central.publish_retained(topics.directory(doc.kind), encode(doc))
        await central.publish_retained(
            topics.station("st-1", "lease"), encode(lease("st-1", 1, [("l1", "xray-1", 1, 999)]))
        )
        st = tg.create_task(syncer.run(), name="station-sync")
        await until(lambda: station.cache.versions.get("config") == 1)

        tracemalloc.start()
        try:
            await central.publish_retained(topics.directory("cards"), payload)
            await until(lambda: station.cache.versions.get("cards") == 1)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert len(station.cache.cards) == N
        assert station.handle_read(CardRead(uid(N), "sim", "simulated", 0.0)).kind == "checked_in"
        # Python memory while the document came, was decoded and stored: paho's buffers (the
        # packet as it grows, up to twice, and the payload copied out of it: about 3.1x the
        # payload) and little else. Decoding the document whole took about 13x; reading it
        # card by card from one string of the whole text, 5x.
        assert peak < 4 * len(payload)

        # A newer document whose 5,000th card is invalid is counted and stores nothing.
        before = stored_cards(station)
        obj = json.loads(encode(cards(N, state=State.FINISHED, version=2)))
        obj["cards"][4999]["card_hash"] = "not-a-hash"
        bad_before = bad_count()
        await central.publish_retained(
            topics.directory("cards"), json.dumps(obj, ensure_ascii=False).encode()
        )
        await until(lambda: bad_count() == bad_before + 1)
        assert station.cache.versions["cards"] == 1
        assert stored_cards(station) == before

        # The next good one is taken whole.
        await central.publish_retained(
            topics.directory("cards"), encode(cards(N, state=State.FINISHED, version=3))
        )
        await until(lambda: station.cache.versions.get("cards") == 3)
        assert len(station.cache.cards) == N
        assert station.handle_read(CardRead(uid(7), "sim", "simulated", 0.0)).kind == (
            "visit_finished"
        )
        st.cancel()
        ct.cancel()
    station.store.close()
