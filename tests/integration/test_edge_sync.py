"""Station sync against a real Mosquitto and a test-side stand-in for central (FakeCentral)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from edge.config import EdgeConfig
from edge.readers.base import CardRead
from edge.station import Station
from edge.store.db import StationStore
from edge.sync import Syncer
from protocol.codec import decode, encode
from protocol.ids import card_hash
from protocol.journey import State
from protocol.messages import QueueEntry, RoomQueueSnapshot, StationStatus
from protocol.mqtt import Incoming, MqttLink
from protocol.settings import MqttSettings
from tests.support.edge_world import DAY, FakeCentral, cards, config, lease, rooms, routes, uid
from tests.support.factories import SITE_KEY

pytestmark = pytest.mark.integration


def edge_config(tmp_path: Path, port: int, root: str, **sync: float) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "station_id": "st-1",
            "data_dir": str(tmp_path / "data"),
            "mqtt": {
                "port": port,
                "topic_root": root,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1,
                "keepalive_s": 5,
            },
            "sync": {"resend_timeout_s": 2.0, **sync},
        }
    )


def make(tmp_path: Path, cfg: EdgeConfig) -> tuple[Station, Syncer]:
    store = StationStore(cfg.data_dir / "station.sqlite3")
    station = Station(cfg.station_id, store, SITE_KEY, location_node="st-1")
    return station, Syncer(cfg, station)


def tap(station: Station, i: int) -> None:
    station.handle_read(CardRead(uid(i), "sim", "simulated", 0.0))


def outbox(station: Station) -> dict[int, dict]:
    return {r.station_seq: json.loads(r.payload) for r in station.store.all_events()}


async def until(cond, within: float = 20) -> None:
    """Poll a condition on station state with a deadline (it has no event of its own)."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def publish_world(central: FakeCentral, topics, n: int = 50) -> None:
    for doc in (rooms(), config(), routes(), cards(n)):
        await central.publish_retained(topics.directory(doc.kind), encode(doc))
    await central.publish_retained(
        topics.station("st-1", "lease"), encode(lease("st-1", 1, [("l1", "xray-1", 1, 5000)]))
    )


async def test_taps_reach_central_once_and_the_outbox_is_settled(tmp_path, broker, topics):
    cfg = edge_config(tmp_path, broker.port, topics.root)
    station, syncer = make(tmp_path, cfg)
    central = FakeCentral(broker.port, topics)
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        await publish_world(central, topics)
        st = tg.create_task(syncer.run(), name="station-sync")
        await until(lambda: station.cache.versions.get("cards") == 1 and station.cache.blocks)
        for i in range(1, 31):
            tap(station, i)
        await central.wait_for("st-1", 30)
        await until(lambda: station.outbox_depth == 0)
        assert station.acked_through == 30
        # Central got exactly the station's events, byte for byte in meaning.
        got = {seq: ev for (sid, seq), ev in central.events.items() if sid == "st-1"}
        assert got == outbox(station)
        assert [got[s]["ticket_number"] for s in range(1, 31)] == list(range(1, 31))
        assert station.last_central_contact is not None
        assert station.clock_offset_ms is not None
        st.cancel()
        ct.cancel()


async def test_unacked_events_are_resent_and_duplicates_are_harmless(tmp_path, broker, topics):
    cfg = edge_config(tmp_path, broker.port, topics.root, resend_timeout_s=0.5)
    station, syncer = make(tmp_path, cfg)
    central = FakeCentral(broker.port, topics)
    for i in range(1, 11):
        tap(station, i)  # offline taps: unknown cards (no directory yet)
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        central.paused = True  # central is down: batches arrive, nothing is acked
        st = tg.create_task(syncer.run(), name="station-sync")
        await until(lambda: syncer.batches_sent >= 3)  # first send + at least two resends
        assert station.outbox_depth == 10
        # Central is back but its acks get lost: every resend is a duplicate to it.
        central.paused = False
        central.send_acks = False
        await until(lambda: central.duplicates >= 20)
        assert station.outbox_depth == 10
        central.send_acks = True
        await until(lambda: station.outbox_depth == 0 and station.acked_through == 10)
        got = {seq: ev for (sid, seq), ev in central.events.items() if sid == "st-1"}
        assert got == outbox(station)
        st.cancel()
        ct.cancel()


async def test_broker_killed_during_a_stream_of_taps_loses_and_duplicates_nothing(
    tmp_path, broker, topics
):
    cfg = edge_config(tmp_path, broker.port, topics.root, batch_size=20)
    station, syncer = make(tmp_path, cfg)
    central = FakeCentral(broker.port, topics)
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        await publish_world(central, topics, n=400)
        st = tg.create_task(syncer.run(), name="station-sync")
        await until(lambda: station.cache.versions.get("cards") == 1 and station.cache.blocks)
        for i in range(1, 401):
            tap(station, i)
            if i == 150:
                await asyncio.to_thread(broker.kill)
            if i == 300:
                await asyncio.to_thread(broker.start)
            if i % 25 == 0:
                await asyncio.sleep(0.05)  # a stream, not one burst
        await central.wait_for("st-1", 400, within=40)
        await until(lambda: station.outbox_depth == 0, within=30)
        got = {seq: ev for (sid, seq), ev in central.events.items() if sid == "st-1"}
        assert got == outbox(station)
        assert len(got) == 400
        numbers = [ev["ticket_number"] for ev in got.values() if ev["kind"] == "check_in"]
        assert sorted(numbers) == list(range(1, 401))
        # Converges: central's next snapshot after the outage replaces the offline estimate.
        snap = RoomQueueSnapshot(
            room_id="xray-1",
            version=9,
            service_day=DAY,
            generated_at=datetime.now(UTC),
            now_calling=[],
            ongoing=[],
            waiting=[
                QueueEntry(
                    visit_id=f"v{i}",
                    ticket_number=i,
                    masked_name="김*수",
                    state="WAITING",
                    priority=5,
                    position=i,
                )
                for i in range(1, 401)
            ],
            served_today=0,
        )
        await central.publish_retained(topics.room("xray-1", "queue"), encode(snap))
        await until(lambda: "xray-1" in station.cache.snapshots, within=10)
        assert station.cache.snapshots["xray-1"].version == 9
        assert station.cache.local == {}  # every local check-in is now in central's snapshot
        st.cancel()
        ct.cancel()


async def test_retained_documents_apply_only_when_newer(tmp_path, broker, topics):
    cfg = edge_config(tmp_path, broker.port, topics.root)
    station, syncer = make(tmp_path, cfg)
    central = FakeCentral(broker.port, topics)
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        await publish_world(central, topics)
        st = tg.create_task(syncer.run(), name="station-sync")
        await until(lambda: station.cache.versions.get("cards") == 1)
        newer = cards(50, state=State.FINISHED, version=3)
        await central.publish_retained(topics.directory("cards"), encode(newer))
        await until(lambda: station.cache.versions.get("cards") == 3)
        # A stale retained copy (e.g. from a restored broker) must not take the station back.
        older = cards(50, state=State.REGISTERED, version=2)
        await central.publish_retained(topics.directory("cards"), encode(older))
        bad = {"source": "mqtt", "reason": "invalid"}
        bad_before = REGISTRY.get_sample_value("nfch_edge_bad_messages_total", bad) or 0
        garbage = b'{"kind": "cards", "version": 9}'
        await central.publish_retained(topics.directory("cards"), garbage)
        marker = cards(50, state=State.FINISHED, version=4)
        await central.publish_retained(topics.directory("cards"), encode(marker))
        await until(lambda: station.cache.versions.get("cards") == 4)
        assert station.cache.cards_doc is not None
        held = [station.cache.cards.get(card_hash(SITE_KEY, uid(i))) for i in range(1, 51)]
        assert all(c is not None and c.state == State.FINISHED for c in held)
        assert len(station.cache.cards) == 50
        # The garbage was counted and changed nothing (version 9 was never taken).
        assert REGISTRY.get_sample_value("nfch_edge_bad_messages_total", bad) == bad_before + 1
        st.cancel()
        ct.cancel()


async def test_status_is_retained_and_the_will_says_offline(tmp_path, broker, topics):
    cfg = edge_config(tmp_path, broker.port, topics.root)
    station, syncer = make(tmp_path, cfg)
    got: asyncio.Queue[StationStatus] = asyncio.Queue()

    async def on_status(msg: Incoming) -> None:
        await got.put(decode(StationStatus, msg.payload))

    watcher = MqttLink(
        MqttSettings(port=broker.port, reconnect_min_s=0.2, reconnect_max_s=1),
        "watcher",
        subscriptions=[(topics.station("st-1", "status"), 1)],
        on_message=on_status,
    )
    tap(station, 1)
    async with asyncio.TaskGroup() as tg:
        wt = tg.create_task(watcher.run(), name="watcher")
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        st = tg.create_task(syncer.run(), name="station-sync")
        first = await asyncio.wait_for(got.get(), 10)
        assert first.online
        assert first.outbox_depth == 1
        assert first.oldest_unsent_age_s is not None
        # Vanish without DISCONNECT: the broker publishes the will.
        syncer.link._client.loop_stop()
        sock = syncer.link._client.socket()
        assert sock is not None
        sock.close()
        async with asyncio.timeout(30):
            while (await got.get()).online:
                pass
        st.cancel()
        wt.cancel()
