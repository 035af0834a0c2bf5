"""The MQTT bridge against a real Mosquitto and a real SQLite file: apply, ack, dedup,
rejects, dead letters, retained snapshots, leases and the fleet view."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest

from protocol.codec import decode, encode
from protocol.messages import Ack, CallAnnouncement, Lease, RoomQueueSnapshot, StationStatus
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

STATION = "st-test-1"


def _ack_of(collector: Collector, through: int):
    def match(msg) -> bool:
        return msg.topic.endswith("/ack") and decode(Ack, msg.payload).acked_through >= through

    return collector.wait_for(match)


@pytest.fixture
def world(tmp_path, broker, topic_root):
    config = central_config(tmp_path, broker.port, topic_root)
    engine, sample = seeded_engine(config)
    yield config, engine, sample
    engine.close()


def _visits_in_first_room(engine, sample, n: int) -> tuple[str, list[str]]:
    by_room: dict[str, list[str]] = {}
    for v in sample.data.visits:
        view = engine.visit(v.visit_id)
        by_room.setdefault(view.steps[0].room_id, []).append(v.visit_id)
    room, visits = max(by_room.items(), key=lambda kv: len(kv[1]))
    assert len(visits) >= n
    return room, visits[:n]


async def test_batch_is_applied_then_acked_and_snapshot_published(world, broker, topics, tmp_path):
    config, engine, sample = world
    room, visits = _visits_in_first_room(engine, sample, 3)
    st = EventFactory(STATION, engine.site_key)
    rx = Collector()
    link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "station-test",
        subscriptions=[(topics.station(STATION, "ack"), 1), (topics.room(room, "queue"), 1)],
        on_message=rx,
    )
    db_file = tmp_path / "central.db"
    async with running_central(config, engine), asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "station")
        batch = st.batch([st.check_in(engine, sample, v) for v in visits])
        await link.publish(topics.station(STATION, "events"), encode(batch))
        msg = await _ack_of(rx, 3)
        # The ack is out: the events must already be committed (read with a separate
        # connection that shares nothing with central's).
        with sqlite3.connect(db_file) as conn:
            n = conn.execute(
                "SELECT count(*) FROM events WHERE station_id = ?", (STATION,)
            ).fetchone()[0]
        assert n == 3
        ack = decode(Ack, msg.payload)
        assert ack.rejects == []
        for v in visits:
            assert engine.visit(v).queue_state == "WAITING"
        want = engine.room_snapshot(room).version

        def snap_has_all(m) -> bool:
            if not m.topic.endswith("/queue"):
                return False
            snap = decode(RoomQueueSnapshot, m.payload)
            return snap.version >= want

        got = decode(RoomQueueSnapshot, (await rx.wait_for(snap_has_all)).payload)
        assert {e.visit_id for e in got.waiting} >= set(visits)
        task.cancel()


async def test_duplicates_replays_and_reordering_are_harmless(world, broker, topics):
    config, engine, sample = world
    _room, visits = _visits_in_first_room(engine, sample, 4)
    st = EventFactory(STATION, engine.site_key)
    events = [st.check_in(engine, sample, v) for v in visits]
    first, second = st.batch(events[:2]), st.batch(events[2:])
    rx = Collector()
    link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "station-test",
        subscriptions=[(topics.station(STATION, "ack"), 1)],
        on_message=rx,
    )
    topic = topics.station(STATION, "events")
    async with running_central(config, engine), asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "station")
        # The second half first: applied, but not acknowledged past the gap.
        await link.publish(topic, encode(second))
        gap = await rx.wait_for(lambda m: m.topic.endswith("/ack"))
        assert decode(Ack, gap.payload).acked_through == 0
        await link.publish(topic, encode(first))
        await _ack_of(rx, 4)
        audit_before = len(engine.audit(limit=1000))
        # Replays of both, and an exact duplicate, change nothing and are acked again.
        for b in (first, second, second):  # one at a time: each gets its own ack
            seen = len(rx.messages)
            await link.publish(topic, encode(b))
            await rx.wait_for(lambda m, n=seen: len(rx.messages) > n)
        acks = [decode(Ack, m.payload) for m in rx.messages]
        assert [a.acked_through for a in acks[-3:]] == [4, 4, 4]
        assert len(engine.audit(limit=1000)) == audit_before
        assert len(engine.events(station_id=STATION, limit=1000)) == 4
        tickets = [engine.visit(v).ticket_number for v in visits]
        assert len(set(tickets)) == 4
        task.cancel()


async def test_one_bad_event_is_rejected_and_the_good_ones_applied(world, broker, topics):
    config, engine, sample = world
    _room, visits = _visits_in_first_room(engine, sample, 3)
    st = EventFactory(STATION, engine.site_key)
    good1 = st.check_in(engine, sample, visits[0])
    bad = st.check_in(engine, sample, visits[1]).model_copy(update={"visit_id": "no-such-visit"})
    good2 = st.check_in(engine, sample, visits[2])
    rx = Collector()
    link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "station-test",
        subscriptions=[(topics.station(STATION, "ack"), 1)],
        on_message=rx,
    )
    async with running_central(config, engine), asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "station")
        batch = st.batch([good1, bad, good2])
        await link.publish(topics.station(STATION, "events"), encode(batch))
        ack = decode(Ack, (await _ack_of(rx, 3)).payload)
        assert [r.station_seq for r in ack.rejects] == [bad.station_seq]
        assert ack.rejects[0].reason
        assert ack.rejects[0].message_ko
        assert engine.visit(visits[0]).queue_state == "WAITING"
        assert engine.visit(visits[1]).queue_state is None
        assert engine.visit(visits[2]).queue_state == "WAITING"
        task.cancel()


async def test_malformed_and_mismatched_payloads_go_to_dead_letters_and_bridge_goes_on(
    world, broker, topics
):
    config, engine, sample = world
    _room, visits = _visits_in_first_room(engine, sample, 1)
    impostor = EventFactory("st-other", engine.site_key)
    st = EventFactory(STATION, engine.site_key)
    rx = Collector()
    link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "station-test",
        subscriptions=[(topics.station(STATION, "ack"), 1)],
        on_message=rx,
    )
    topic = topics.station(STATION, "events")
    async with running_central(config, engine), asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "station")
        await link.publish(topic, b"\xff not json")
        await link.publish(topic, b'{"station_id": "st-test-1", "events": []}')
        wrong = impostor.batch([impostor.check_in(engine, sample, visits[0])])
        await link.publish(topic, encode(wrong))
        await link.publish(topics.station(STATION, "status"), b"[]")
        good = st.batch([st.check_in(engine, sample, visits[0])])
        await link.publish(topic, encode(good))
        await _ack_of(rx, 1)
        dead = engine.dead_letters(limit=100)
        reasons = sorted(d.reason for d in dead)
        assert reasons == sorted(["not_utf8", "invalid", "station_mismatch", "not_object"])
        mismatch = next(d for d in dead if d.reason == "station_mismatch")
        assert mismatch.station_id == STATION
        assert "st-other" in mismatch.detail
        assert engine.visit(visits[0]).queue_state == "WAITING"
        # Nothing of the impostor's batch was applied or registered.
        assert engine.events(station_id="st-other") == []
        task.cancel()


async def test_retained_snapshots_coalesce_and_versions_only_go_up(world, broker, topics):
    config, engine, sample = world
    room, visits = _visits_in_first_room(engine, sample, 6)
    st = EventFactory(STATION, engine.site_key)
    rx = Collector()
    watch = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "watcher",
        subscriptions=[(topics.room(room, "queue"), 1), (topics.station(STATION, "ack"), 1)],
        on_message=rx,
    )
    async with running_central(config, engine), asyncio.TaskGroup() as tg:
        task = await start_link(tg, watch, "watcher")
        start_version = engine.room_snapshot(room).version
        await rx.wait_for(
            lambda m: (
                m.topic.endswith("/queue")
                and decode(RoomQueueSnapshot, m.payload).version >= start_version
            )
        )
        # Six check-ins into one room in one batch: one snapshot, at the latest version.
        batch = st.batch([st.check_in(engine, sample, v) for v in visits])
        await watch.publish(topics.station(STATION, "events"), encode(batch))
        await _ack_of(rx, 6)
        final = engine.room_snapshot(room).version
        await rx.wait_for(
            lambda m: (
                m.topic.endswith("/queue") and decode(RoomQueueSnapshot, m.payload).version == final
            )
        )
        snaps = [
            decode(RoomQueueSnapshot, m.payload) for m in rx.messages if m.topic.endswith("/queue")
        ]
        # (The state at start may be published twice: once at start and once on connect.)
        assert len([s for s in snaps if s.version > start_version]) == 1
        versions = [s.version for s in snaps]
        assert versions == sorted(versions)
        task.cancel()
    # A subscriber arriving later gets the retained latest snapshot from the broker alone.
    late = Collector()
    late_link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "late",
        subscriptions=[(topics.room(room, "queue"), 1)],
        on_message=late,
        clean_start=True,
    )
    async with asyncio.TaskGroup() as tg:
        task = await start_link(tg, late_link, "late")
        msg = await late.wait_for(lambda m: True)
        assert msg.retain
        assert decode(RoomQueueSnapshot, msg.payload).version == final
        task.cancel()


async def test_station_status_feeds_the_fleet_and_gets_a_lease(world, broker, topics):
    config, engine, sample = world
    station = sample.data.stations[0].station_id
    rx = Collector()
    link = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "station-status",
        subscriptions=[(topics.station(station, "lease"), 1)],
        on_message=rx,
    )
    status = StationStatus(
        station_id=station,
        online=True,
        sent_at=datetime.now(UTC),
        software_version="0.1.0",
        outbox_depth=7,
        oldest_unsent_age_s=12.5,
        clock_offset_ms=-40,
    )
    async with running_central(config, engine) as central, asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "station")
        await link.publish(topics.station(station, "status"), encode(status), retain=True)
        lease = decode(Lease, (await rx.wait_for(lambda m: True)).payload)
        assert lease.station_id == station
        assert lease.blocks
        # The fleet view (served at GET /api/v1/stations to technicians).
        assert central.bridge is not None
        fleet = central.bridge.fleet
        async with asyncio.timeout(10):
            while fleet.get(station) is None:  # noqa: ASYNC110 - polled with a deadline
                await asyncio.sleep(0.02)
        entry = fleet.get(station)
        assert entry is not None
        assert entry.status.online is True
        assert entry.status.outbox_depth == 7
        assert entry.status.clock_offset_ms == -40
        assert entry.last_seen is not None
        assert central.bridge.hub.seq("stations") >= 1  # on the WebSocket feed too
        task.cancel()


async def test_calls_are_announced_not_retained_and_reach_the_feed(world, broker, topics):
    config, engine, sample = world
    room, visits = _visits_in_first_room(engine, sample, 1)
    rx = Collector()
    kiosk = MqttLink(
        mqtt_settings(broker.port, topics.root),
        "kiosk",
        subscriptions=[(topics.room(room, "call"), 1)],
        on_message=rx,
    )
    async with running_central(config, engine) as central, asyncio.TaskGroup() as tg:
        task = await start_link(tg, kiosk, "kiosk")
        assert central.bridge is not None
        publisher, hub = central.bridge.publisher, central.bridge.hub
        engine.check_in(visits[0], actor="desk")
        # What the call-next route does after the engine commits.
        result = await asyncio.to_thread(engine.call_next, room, actor="nurse1")
        publisher.submit(result.changes)
        msg = await rx.wait_for(lambda m: True)
        call = decode(CallAnnouncement, msg.payload)
        assert call.ticket_number == result.visit.ticket_number
        assert "*" in call.masked_name
        assert not msg.retain
        assert hub.seq("calls") >= 1
        task.cancel()
