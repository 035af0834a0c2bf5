"""A room board against a real Mosquitto: snapshots, order, garbage, broker restart, calls."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from kiosk_ui import demo
from kiosk_ui.app import RoomBoard, build_room_board
from kiosk_ui.config import KioskConfig
from kiosk_ui.metrics import BAD_MESSAGES, STALE_MESSAGES, counter_value
from protocol.codec import encode
from protocol.settings import MqttSettings
from protocol.topics import Topics

pytestmark = [pytest.mark.integration, pytest.mark.qt]


class Publisher:
    """A plain paho client playing central."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"central-{uuid.uuid4().hex[:6]}"
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def kiosk_config(port: int, root: str, cache: Path, **kw) -> KioskConfig:
    return KioskConfig(
        room_id=demo.ROOM_ID,
        cache_dir=cache,
        fullscreen=False,
        mqtt=MqttSettings(
            port=port, topic_root=root, reconnect_min_s=0.2, reconnect_max_s=1, keepalive_s=5
        ),
        **kw,
    )


@pytest.fixture
def central(broker) -> Iterator[Publisher]:
    p = Publisher(broker.port)
    try:
        yield p
    finally:
        p.close()


def start_board(qtbot, config: KioskConfig) -> RoomBoard:
    kiosk = build_room_board(config)
    qtbot.addWidget(kiosk.window)
    kiosk.window.resize(1920, 1080)
    kiosk.window.show()
    up: list[bool] = []
    kiosk.feed.connectionChanged.connect(up.append)
    kiosk.start()
    qtbot.waitUntil(lambda: up[-1:] == [True], timeout=10000)
    return kiosk


@pytest.fixture
def board_factory(qtbot):
    started: list[RoomBoard] = []

    def make(config: KioskConfig) -> RoomBoard:
        kiosk = start_board(qtbot, config)
        started.append(kiosk)
        return kiosk

    yield make
    for kiosk in started:
        kiosk.stop()


def test_snapshots_shown_in_version_order_and_garbage_ignored(
    qtbot, broker, central, topic_root, tmp_path, board_factory
):
    t = Topics(topic_root)
    queue = t.room(demo.ROOM_ID, "queue")
    kiosk = board_factory(kiosk_config(broker.port, topic_root, tmp_path, speech="off"))
    threads: set[int] = set()
    kiosk.board.changed.connect(lambda: threads.add(threading.get_ident()))
    # Published once the board listens for changes (a retained message can arrive before a
    # slot connected after the board was made).
    central.publish(t.directory("rooms"), encode(demo.directory_rooms()), retain=True)
    central.publish(queue, encode(demo.snapshot(5, calling=150)), retain=True)
    w = kiosk.window
    qtbot.waitUntil(lambda: w.calling_number.text() == "150", timeout=10000)
    # Messages come in on the MQTT thread; models and widgets are only touched in the GUI thread.
    assert threads == {threading.main_thread().ident}
    qtbot.waitUntil(lambda: w.title.primary.text() == demo.ROOM_NAME.ko, timeout=10000)
    assert w.waiting_view.rows[0][0].text() == "151"

    central.publish(queue, encode(demo.snapshot(6, calling=151)), retain=True)
    qtbot.waitUntil(lambda: w.calling_number.text() == "151", timeout=10000)

    stale = counter_value(STALE_MESSAGES, kind="snapshot")
    central.publish(queue, encode(demo.snapshot(4, calling=140)))
    qtbot.waitUntil(lambda: counter_value(STALE_MESSAGES, kind="snapshot") == stale + 1)
    assert w.calling_number.text() == "151"
    assert kiosk.board.snapshot.version == 6

    bad = counter_value(BAD_MESSAGES, source="queue", reason="not_json")
    central.publish(queue, b"\x00garbage")
    qtbot.waitUntil(lambda: counter_value(BAD_MESSAGES, source="queue", reason="not_json") > bad)
    assert w.calling_number.text() == "151"

    central.publish(queue, encode(demo.snapshot(7, calling=152)), retain=True)
    qtbot.waitUntil(lambda: w.calling_number.text() == "152", timeout=10000)


def test_broker_restart_keeps_last_state_with_offline_banner_then_recovers(
    qtbot, broker, central, topic_root, tmp_path, board_factory
):
    t = Topics(topic_root)
    queue = t.room(demo.ROOM_ID, "queue")
    central.publish(queue, encode(demo.snapshot(1, calling=101)), retain=True)
    kiosk = board_factory(
        kiosk_config(broker.port, topic_root, tmp_path, speech="off", offline_after_s=1.5)
    )
    w = kiosk.window
    qtbot.waitUntil(lambda: w.calling_number.text() == "101", timeout=10000)
    assert not w.banner.isVisibleTo(w)

    broker.stop()
    qtbot.waitUntil(lambda: w.banner.isVisibleTo(w), timeout=10000)
    assert w.calling_number.text() == "101"
    assert kiosk.board.last_arrival is not None
    assert kiosk.board.last_arrival.astimezone().strftime("%H:%M") in (w.banner_text.primary.text())

    broker.start()
    publisher = Publisher(broker.port)
    try:
        publisher.publish(queue, encode(demo.snapshot(2, calling=102)), retain=True)
        qtbot.waitUntil(lambda: w.calling_number.text() == "102", timeout=15000)
        qtbot.waitUntil(lambda: not w.banner.isVisibleTo(w), timeout=5000)
    finally:
        publisher.close()


def test_a_rebooted_board_starts_from_its_disk_cache_while_offline(
    qtbot, broker, central, topic_root, tmp_path, board_factory
):
    t = Topics(topic_root)
    central.publish(t.room(demo.ROOM_ID, "queue"), encode(demo.snapshot(3, calling=133)))
    first = board_factory(kiosk_config(broker.port, topic_root, tmp_path, speech="off"))
    central.publish(t.room(demo.ROOM_ID, "queue"), encode(demo.snapshot(4, calling=134)))
    qtbot.waitUntil(lambda: first.window.calling_number.text() == "134", timeout=10000)
    first.stop()
    broker.stop()
    again = build_room_board(kiosk_config(broker.port, topic_root, tmp_path, speech="off"))
    qtbot.addWidget(again.window)
    again.board.start()  # the cache only: no broker to connect to
    assert again.window.calling_number.text() == "134"


def test_a_call_flashes_and_is_announced_once(
    qtbot, broker, central, topic_root, tmp_path, board_factory
):
    t = Topics(topic_root)
    call_topic = t.room(demo.ROOM_ID, "call")
    central.publish(
        t.room(demo.ROOM_ID, "queue"), encode(demo.snapshot(1, calling=101)), retain=True
    )
    kiosk = board_factory(kiosk_config(broker.port, topic_root, tmp_path, flash_s=1.0))
    w = kiosk.window
    qtbot.waitUntil(lambda: w.calling_number.text() == "101", timeout=10000)
    flashes: list[bool] = []
    kiosk.calls.flashChanged.connect(flashes.append)

    call = demo.call(118, at=demo.NOW + timedelta(seconds=10))
    central.publish(call_topic, encode(call))
    qtbot.waitUntil(lambda: len(kiosk.announcer.reports) == 1, timeout=10000)
    assert w.calling_number.text() == "118"  # shown at once, before the snapshot says so
    assert w.calling_panel.objectName() == "flash"
    # The same announcement again (a broker redelivery), one for another room, then a new one:
    # only the new one is announced, and in order.
    central.publish(call_topic, encode(call))
    central.publish(call_topic, encode(demo.call(7, room_id="other-room")))
    central.publish(call_topic, b"{}")
    second = demo.call(119, at=demo.NOW + timedelta(seconds=20))
    central.publish(call_topic, encode(second))
    qtbot.waitUntil(lambda: len(kiosk.announcer.reports) == 2, timeout=10000)
    assert [r.ticket_number for r in kiosk.announcer.reports] == [118, 119]
    report = kiosk.announcer.reports[0]
    assert report.muted is False
    # Offscreen CI has no sound card: the chime was asked for and says whether it could sound.
    assert report.chime in ("played", "unavailable")
    assert report.speech == kiosk.announcer.speech_backend
    assert report.speech in ("qt", "espeak", "none")
    assert report.spoken_text.startswith("118번")
    qtbot.waitUntil(lambda: not kiosk.calls.flashing, timeout=5000)
    assert w.calling_panel.objectName() == "panel"
    assert True in flashes
    assert False in flashes


def test_a_muted_board_flashes_but_stays_silent(
    qtbot, broker, central, topic_root, tmp_path, board_factory
):
    t = Topics(topic_root)
    kiosk = board_factory(kiosk_config(broker.port, topic_root, tmp_path, muted=True, flash_s=1))
    central.publish(t.room(demo.ROOM_ID, "call"), encode(demo.call(120)))
    qtbot.waitUntil(lambda: len(kiosk.announcer.reports) == 1, timeout=10000)
    assert kiosk.announcer.reports[0].chime == "muted"
    assert kiosk.window.calling_number.text() == "120"
