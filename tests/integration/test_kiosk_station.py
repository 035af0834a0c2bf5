"""The station screen against a stand-in for the edge daemon's screen feed and a real Mosquitto.

`EdgeScreenStandIn` plays the edge daemon's `GET /api/v1/screen` WebSocket (the latest screen on
connect, then each new one as a text frame of `protocol.codec.encode(StationScreen)`), so the
kiosk side is tested on its own; the map comes over MQTT from a real broker.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from aiohttp import WSMsgType, web
from paho.mqtt.enums import CallbackAPIVersion

from kiosk_ui import demo
from kiosk_ui.app import StationScreenApp, build_station
from kiosk_ui.config import KioskConfig
from kiosk_ui.metrics import BAD_MESSAGES, counter_value
from protocol.codec import encode
from protocol.settings import MqttSettings
from protocol.topics import Topics
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.qt]


class EdgeScreenStandIn:
    """A stand-in for the edge daemon's screen WebSocket, in its own thread and event loop."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.latest: str = encode(demo.screen("idle")).decode()
        self.clients: set[web.WebSocketResponse] = set()
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="edge-standin")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/screen"

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()
        self._call(self._start())

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/screen", self._handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.clients.add(ws)
        await ws.send_str(self.latest)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(ws)
        return ws

    def send(self, frame: str) -> None:
        """Send a frame to every connected screen."""

        async def go() -> None:
            for ws in list(self.clients):
                await ws.send_str(frame)

        self._call(go())

    def stop(self) -> None:
        """The daemon goes away: connections closed, port closed."""

        async def go() -> None:
            for ws in list(self.clients):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None

        self._call(go())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def edge() -> Iterator[EdgeScreenStandIn]:
    standin = EdgeScreenStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.close()


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"central-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def station(qtbot, broker, topic_root, tmp_path, edge) -> Iterator[StationScreenApp]:
    config = KioskConfig(
        station_id=demo.STATION_ID,
        edge_screen_url=edge.url,
        cache_dir=tmp_path,
        fullscreen=False,
        station_down_after_s=1.0,
        result_timeout_s=30,
        mqtt=MqttSettings(port=broker.port, topic_root=topic_root, reconnect_min_s=0.2),
    )
    app = build_station(config)
    qtbot.addWidget(app.window)
    app.window.resize(1920, 1080)
    app.window.show()
    app.start()
    try:
        yield app
    finally:
        app.stop()


def test_idle_then_check_in_with_route_from_the_broker_map(
    qtbot, broker, topic_root, station, edge
):
    w = station.window
    qtbot.waitUntil(lambda: station.model.feed_up, timeout=10000)
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.idle, timeout=5000)
    assert w.idle_message.primary.text() == "카드를 대 주세요"
    publish_retained(broker.port, Topics(topic_root).directory("map"), encode(demo.directory_map()))
    qtbot.waitUntil(lambda: station.model.map is not None, timeout=10000)

    edge.send(encode(demo.screen("checked_in", seq=2)).decode())
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.result, timeout=5000)
    assert w.ticket.text() == "117"
    assert w.standing.primary.text() == "3번째 · 약 15분"
    assert [c.sketch.label for c in w.floor_map.canvases] == ["1F", "2F"]
    assert w.step_labels[0].primary.text() == demo.route().steps[0].ko
    assert w.qr.matrix
    assert w.note.isVisibleTo(w)

    bad = counter_value(BAD_MESSAGES, source="screen", reason="not_json")
    edge.send("this is not json")
    edge.send(encode(demo.screen("unknown_card", seq=1)).decode())  # older seq: ignored
    edge.send(encode(demo.screen("visit_finished", seq=3)).decode())
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.error, timeout=5000)
    assert counter_value(BAD_MESSAGES, source="screen", reason="not_json") == bad + 1
    assert w.error_message.primary.text().startswith("오늘 진료가 모두 끝났습니다")

    edge.send(encode(demo.screen("idle", seq=4)).decode())
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.idle, timeout=5000)


def test_daemon_restart_shows_help_then_its_screens_again(qtbot, station, edge):
    w = station.window
    qtbot.waitUntil(lambda: station.model.feed_up, timeout=10000)
    edge.send(encode(demo.screen("checked_in", seq=40)).decode())
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.result, timeout=5000)

    edge.stop()
    qtbot.waitUntil(lambda: station.model.page == "station_down", timeout=10000)
    assert w.pages.currentWidget() is w.error
    assert w.error_message.primary.text() == "잠시만 기다려 주세요"

    # The restarted daemon numbers its screens from 1 again and sends the latest on connect.
    edge.latest = encode(demo.screen("already_waiting", seq=1)).decode()
    edge.start()
    qtbot.waitUntil(lambda: station.model.kind == "already_waiting", timeout=15000)
    assert w.pages.currentWidget() is w.result
    assert edge.connections == 2
