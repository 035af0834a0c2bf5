"""MQTT access on a locked-down Mosquitto (issue #10, security): the password file and ACL
that `nfc-hospital central broker-config` writes (anonymous off), two stations and central.

Refused: anonymous and wrong-password logins; a station publishing as another station, as
central (snapshots, directory, leases, acks) or retained on any of those (PUBACK 135); a
station reading another station's acks, leases, screens, events or status, or everything
under the root (Mosquitto grants such subscriptions and drops the messages on delivery, so
the test checks delivery: an ordered marker shows nothing of the other station arrived).
Allowed (so the refusals are not a broker that refuses everything): each station's own
topics and the public documents, central everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from central.broker_config import (
    BrokerUser,
    central_user_from_file,
    mosquitto_hash,
    render_auth_config,
    write_broker_config,
)
from protocol.topics import Topics
from tests.security.mqtt_client import Client
from tests.support.mosquitto import MosquittoBroker

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 135


@dataclass
class LockedBroker:
    broker: MosquittoBroker
    topics: Topics
    central_password: str
    passwords: dict[str, str]
    clients: list[Client]

    def connect(self, user: str | None, password: str | None) -> Client:
        c = Client(self.broker.port, user, password)
        self.clients.append(c)
        return c

    def station(self, sid: str) -> Client:
        c = self.connect(sid, self.passwords[sid])
        assert not c.refused, c.rc
        return c

    def central(self) -> Client:
        c = self.connect("central", self.central_password)
        assert not c.refused, c.rc
        return c


@pytest.fixture
def locked(tmp_path: Path, topic_root: str) -> Iterator[LockedBroker]:
    etc = tmp_path / "broker-etc"
    central_user, _ = central_user_from_file(tmp_path / "central-mqtt.password")
    passwords = {sid: uuid.uuid4().hex for sid in ("st-a", "st-b")}
    stations = [BrokerUser(sid, mosquitto_hash(pw)) for sid, pw in passwords.items()]
    write_broker_config(etc, stations, central_user, topic_root=topic_root, conf=False)
    broker = MosquittoBroker(tmp_path / "mosquitto", extra_config=render_auth_config(etc))
    broker.start()
    world = LockedBroker(
        broker,
        Topics(topic_root),
        (tmp_path / "central-mqtt.password").read_text().strip(),
        passwords,
        [],
    )
    try:
        yield world
    finally:
        for c in world.clients:
            c.close()
        broker.close()


def test_anonymous_and_wrong_passwords_are_refused(locked: LockedBroker) -> None:
    for user, password in [
        (None, None),
        ("st-a", "not-the-password"),
        ("st-a", locked.passwords["st-b"]),  # another station's password
        ("st-a", locked.central_password),
        ("central", locked.passwords["st-a"]),
        ("st-unknown", "whatever-password"),
        ("", ""),
    ]:
        c = locked.connect(user, password)
        assert c.refused, (user, c.rc)
    assert not locked.station("st-a").refused  # the right one gets in


def test_a_station_cannot_write_as_another_station_or_as_central(locked: LockedBroker) -> None:
    t = locked.topics
    central = locked.central()
    for leaf in ("events", "status"):
        assert not central.subscribe(t.station_filter(leaf)).is_failure
    a = locked.station("st-a")
    forged = {
        t.station("st-b", "events"): False,
        t.station("st-b", "status"): False,
        t.station("st-b", "ack"): True,
        t.station("st-a", "ack"): True,  # acks come from central only
        t.station("st-a", "lease"): True,
        t.station("st-a", "screen"): True,
        t.room("xray-1", "queue"): True,
        t.room("xray-1", "call"): True,
        t.directory("cards"): True,
        t.directory("rooms"): True,
    }
    for topic, retain in forged.items():
        rc = a.publish(topic, b"forged", retain=retain)
        assert rc.value == NOT_AUTHORIZED, (topic, rc)
    # Its own events go through, and they are all central receives.
    assert a.publish(t.station("st-a", "events"), b"mine").value == 0
    central.wait_for(t.station("st-a", "events"), b"mine")
    assert central.topics() == {t.station("st-a", "events")}
    # Nothing forged was retained: a fresh reader of everything sees no "forged" payload.
    spy = locked.central()
    assert not spy.subscribe(f"{t.root}/#").is_failure
    marker = uuid.uuid4().hex.encode()
    assert central.publish(t.directory("config"), marker, retain=True).value == 0
    spy.wait_for(t.directory("config"), marker)
    assert all(m.payload != b"forged" for m in spy.messages)


def test_a_station_cannot_read_another_stations_topics(locked: LockedBroker) -> None:
    t = locked.topics
    a = locked.station("st-a")
    denied = [
        t.station("st-b", "ack"),
        t.station("st-b", "lease"),
        t.station("st-b", "screen"),
        t.station("st-b", "events"),
        t.station("st-b", "status"),
        t.station_filter("events"),
        t.station_filter("ack"),
        f"{t.root}/#",
        "#",
    ]
    # Mosquitto may grant such a subscription (SUBACK) and check the read ACL per message
    # instead: what counts is that nothing of st-b's is delivered (checked below).
    for topic in denied:
        assert a.subscribe(topic).value in (1, NOT_AUTHORIZED), topic
    allowed = [t.station("st-a", "ack"), t.room_filter("queue"), t.directory_filter()]
    for topic in allowed:
        assert not a.subscribe(topic).is_failure, topic
    # Central sends st-b something on each denied topic, then st-a its own ack: once st-a has
    # its own, the others (sent before, by the same client) would have arrived too.
    central = locked.central()
    for leaf in ("ack", "lease", "screen"):
        assert central.publish(t.station("st-b", leaf), b"for-b").value == 0
    b = locked.station("st-b")
    assert b.publish(t.station("st-b", "events"), b"b-events").value == 0
    assert b.publish(t.station("st-b", "status"), b"b-status", retain=True).value == 0
    assert central.publish(t.station("st-a", "ack"), b"for-a").value == 0
    a.wait_for(t.station("st-a", "ack"), b"for-a")
    assert a.topics() == {t.station("st-a", "ack")}, a.topics()
    # A new connection of st-a does not get st-b's retained status either (retained
    # messages are sent right after the SUBACK, before st-a's own below).
    again = locked.station("st-a")
    assert again.subscribe(t.station("st-b", "status")).value in (1, NOT_AUTHORIZED)
    assert again.subscribe(f"{t.root}/#").value in (1, NOT_AUTHORIZED)
    assert again.subscribe(t.station("st-a", "status")).value in (0, 1)
    assert again.publish(t.station("st-a", "status"), b"a-status", retain=True).value == 0
    again.wait_for(t.station("st-a", "status"), b"a-status")
    assert again.topics() == {t.station("st-a", "status")}
