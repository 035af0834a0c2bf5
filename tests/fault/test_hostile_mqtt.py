"""Hostile MQTT input during a live stream of taps (issue #10, hostile half): garbage,
oversized, malformed, spoofed and replayed payloads on central's and the stations' topics.
Nothing crashes a daemon, no tap is lost or doubled (the history checker), every rejected
message is counted (central: a dead-letter row with a reason; station: the bad-message
counter on /metrics), and no plaintext card UID or full name is in a station's files."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time

import pytest

from protocol.hlc import HybridLogicalClock
from protocol.mqtt import Incoming, MqttLink
from protocol.topics import Topics
from tests.support.central_harness import mqtt_settings, start_link
from tests.support.cluster import Cluster, StormPlan, run_storm
from tests.support.history import check

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def _bad_station_messages(body: str) -> float:
    return sum(
        float(m.group(1))
        for m in re.finditer(
            r'^nfch_edge_bad_messages_total\{[^}]*source="mqtt"[^}]*\} (\S+)$', body, re.M
        )
    )


async def attack(port: int, topic_root: str, sids: list[str], stop: threading.Event) -> int:
    """Publish hostile payloads until `stop`; returns how many were aimed at central."""
    topics = Topics(topic_root)
    captured: list[bytes] = []

    async def capture(msg: Incoming) -> None:
        # Real batches only (the attacker hears its own garbage on the same topics).
        try:
            doc = json.loads(msg.payload)
        except (ValueError, RecursionError):
            return
        events = doc.get("events") if isinstance(doc, dict) else None
        real = isinstance(events, list) and events and all("event_id" in e for e in events)
        if real and len(captured) < 20:
            captured.append(msg.payload)

    link = MqttLink(
        mqtt_settings(port, topic_root),
        f"attacker-{time.monotonic_ns()}",
        subscriptions=[(topics.station_filter("events"), 1)],
        on_message=capture,
        clean_start=True,
    )
    at_central = 0
    async with asyncio.TaskGroup() as tg:
        task = await start_link(tg, link, "attacker")
        try:
            round_ = 0
            while not stop.is_set():
                round_ += 1
                victim, other = sids[round_ % len(sids)], sids[(round_ + 1) % len(sids)]
                events = topics.station(victim, "events")
                hostile = [
                    b"\xff\xfe not json",
                    b"{}",
                    b'{"schema_version":"1.0","station_id":"' + victim.encode() + b'"}',
                    b"[" * 5000,  # deep nesting
                    b'{"x":"' + b"A" * 300_000 + b'"}',  # oversized
                    json.dumps(
                        {
                            "schema_version": "1.0",
                            "station_id": victim,
                            "sent_at": "2026-11-27T00:00:00Z",
                            "events": [{"kind": "check_in", "station_seq": -1}],
                        }
                    ).encode(),
                ]
                for payload in hostile:
                    await link.publish(events, payload, qos=1)
                    at_central += 1
                if captured:
                    original = captured[round_ % len(captured)]
                    owner = json.loads(original)["station_id"]
                    # A real batch replayed as it was: a duplicate, deduplicated, not counted.
                    await link.publish(topics.station(owner, "events"), original, qos=1)
                    # The same batch on another station's topic: spoofing, refused.
                    spoofed = next(s for s in sids if s != owner)
                    await link.publish(topics.station(spoofed, "events"), original, qos=1)
                    at_central += 1
                # Garbage to the stations: ack, lease, a room snapshot, a directory document.
                for topic in (
                    topics.station(victim, "ack"),
                    topics.station(victim, "lease"),
                    topics.room("xray", "queue"),
                    topics.directory("cards"),
                ):
                    for junk in (b'{"version": "x", "garbage": true}', b"[" * 5000, b"\xff"):
                        await link.publish(topic, junk, qos=1)
                await link.publish(
                    topics.station(victim, "ack"),
                    json.dumps(
                        {
                            "schema_version": "1.0",
                            "station_id": other,
                            "acked_through": 10**9,
                            "central_time": "2026-11-27T00:00:00Z",
                            "central_hlc": HybridLogicalClock("central").now().to_text(),
                        }
                    ).encode(),
                    qos=1,
                )
                await asyncio.sleep(0.3)
        finally:
            task.cancel()
    return at_central


def test_hostile_mqtt_during_a_stream(tmp_path, broker, topic_root):
    cluster = Cluster(tmp_path, broker, topic_root, stations=2, patients=40)
    stop = threading.Event()
    sent: list[int] = []
    errors: list[BaseException] = []

    def attacker() -> None:
        try:
            sent.append(
                asyncio.run(attack(broker.port, topic_root, sorted(cluster.stations), stop))
            )
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=attacker, name="attacker")
    plan = StormPlan(taps=200, seed=6, broker_kills=False, station_kills=False, central_kill=False)
    try:
        cluster.start()
        before = {
            sid: _bad_station_messages(st.daemon.get("/metrics")[1].decode())
            for sid, st in cluster.stations.items()
        }
        thread.start()
        result = run_storm(cluster, plan)
        stop.set()
        thread.join(30)
        assert not errors, errors
        # Every hostile message aimed at central is a dead letter with a reason.
        deadline = time.monotonic() + 20
        while True:
            with sqlite3.connect(cluster.central_db) as conn:
                letters = dict(
                    conn.execute(
                        "SELECT reason, count(*) FROM dead_letters GROUP BY reason"
                    ).fetchall()
                )
            if sum(letters.values()) >= sent[0] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        report = check(result.history, cluster.central_db, cluster.station_dbs)
        alive = {sid: st.daemon.process.poll() for sid, st in cluster.stations.items()}
        health = {sid: st.daemon.get("/healthz")[0] for sid, st in cluster.stations.items()}
        after = {
            sid: _bad_station_messages(st.daemon.get("/metrics")[1].decode())
            for sid, st in cluster.stations.items()
        }
        central_alive = cluster.central.process.poll()
    finally:
        stop.set()
        cluster.close()
    assert not report.problems, f"{report.summary()}\n" + "\n".join(report.problems)
    assert report.ok == plan.taps
    assert central_alive is None, "central died"
    assert set(alive.values()) == {None}, alive
    assert set(health.values()) == {200}, health
    assert sum(letters.values()) == sent[0], (letters, sent)
    assert "station_mismatch" in letters, letters
    assert all(after[sid] > before[sid] for sid in after), (before, after)
    # Privacy: nothing a station wrote (databases, WAL, logs, config) holds a card UID or a
    # full name, even after hostile traffic.
    secrets = [u.lower() for u in cluster.card_uids] + [n for n in cluster.patient_names]
    for sid, st in cluster.stations.items():
        for path in st.daemon.workdir.rglob("*"):
            if path.is_file():
                data = path.read_bytes().decode("utf-8", errors="replace")
                low = data.lower()
                leaked = [s for s in secrets if (s.lower() in low)]
                assert not leaked, f"{sid}: {path.name} holds {leaked[:3]}"
