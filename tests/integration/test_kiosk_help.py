"""The station's Help button against a stand-in for central's assistant endpoints.

`CentralAssistantStandIn` serves `GET /api/v1/assistant/top-questions` and
`POST /api/v1/assistant/ask` with the response shapes of `central.assistant.models` (the
kiosk may not import central; `tests/unit` of central covers the real answers). The station
runs as in service (`build_station`), with the edge daemon's screen feed and a real Mosquitto
for the map.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from PyQt6.QtCore import Qt

from kiosk_ui import demo
from kiosk_ui.app import StationScreenApp, build_station
from kiosk_ui.config import KioskConfig
from kiosk_ui.models import help as h
from protocol.codec import encode
from protocol.settings import MqttSettings
from protocol.topics import Topics
from tests.integration.test_kiosk_station import EdgeScreenStandIn, publish_retained
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.qt]


class CentralAssistantStandIn:
    """A stand-in for central's assistant routes, in its own thread and event loop."""

    def __init__(self) -> None:
        self.port = free_port()
        self.asked: list[dict[str, Any]] = []
        self.top_queries: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="central-standin")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/assistant/top-questions", self._top)
        app.router.add_post("/api/v1/assistant/ask", self._ask)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _top(self, request: web.Request) -> web.Response:
        lang = request.query.get("lang", "ko")
        self.top_queries.append(lang)
        return web.json_response(demo.top_questions(lang))

    async def _ask(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.asked.append(body)
        return web.json_response(demo.answer(body["question"], body["lang"]))

    def close(self) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def central() -> Iterator[CentralAssistantStandIn]:
    standin = CentralAssistantStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.close()


@pytest.fixture
def edge() -> Iterator[EdgeScreenStandIn]:
    standin = EdgeScreenStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.close()


def start_station(qtbot, broker, topic_root, tmp_path, edge, assistant_url) -> StationScreenApp:
    config = KioskConfig(
        station_id=demo.STATION_ID,
        edge_screen_url=edge.url,
        assistant_url=assistant_url,
        cache_dir=tmp_path,
        fullscreen=False,
        result_timeout_s=30,
        mqtt=MqttSettings(port=broker.port, topic_root=topic_root, reconnect_min_s=0.2),
    )
    app = build_station(config)
    qtbot.addWidget(app.window)
    app.window.resize(1920, 1080)
    app.window.show()
    app.start()
    qtbot.waitUntil(lambda: app.model.feed_up, timeout=10000)
    qtbot.waitUntil(lambda: app.window.pages.currentWidget() is app.window.idle, timeout=5000)
    return app


def click(qtbot, widget) -> None:
    assert widget.isVisibleTo(widget.window()), "the button is not shown"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_help_question_answer_with_route_then_back(
    qtbot, broker, topic_root, tmp_path, edge, central
):
    publish_retained(broker.port, Topics(topic_root).directory("map"), encode(demo.directory_map()))
    app = start_station(qtbot, broker, topic_root, tmp_path, edge, central.url)
    try:
        w = app.window
        qtbot.waitUntil(lambda: app.model.map is not None, timeout=10000)
        click(qtbot, w.help_button)
        qtbot.waitUntil(lambda: w.question_buttons[5].isVisibleTo(w), timeout=5000)
        assert w.pages.currentWidget() is w.help_page
        assert central.top_queries == ["ko"]
        assert w.question_buttons[4].label.primary.text() == "수납은 어디서 하나요?"
        assert w.question_buttons[4].label.secondary.text() == "Where do I pay?"

        click(qtbot, w.question_buttons[4])
        qtbot.waitUntil(lambda: app.help is not None and app.help.state == h.ANSWER, timeout=5000)
        assert central.asked == [
            {"question": "수납은 어디서 하나요?", "lang": "ko", "station_id": demo.STATION_ID}
        ]
        assert w.help_message.primary.text() == "수납은 1층 원무과 수납 창구에서 합니다."
        assert w.help_message.secondary.text() == "You pay at the payment desk on 1F."
        assert not any(b.isVisibleTo(w) for b in w.question_buttons)
        assert [c.sketch.label for c in w.help_map.canvases] == ["1F"]
        assert w.help_steps[1].secondary.text() == "The payment desk is at the end, on the right"

        click(qtbot, w.back_button)  # back to the questions
        assert w.question_buttons[0].isVisibleTo(w)
        click(qtbot, w.back_button)  # back to idle
        assert w.pages.currentWidget() is w.idle

        # A card tap while Help is open takes the screen.
        click(qtbot, w.help_button)
        qtbot.waitUntil(lambda: w.question_buttons[0].isVisibleTo(w), timeout=5000)
        edge.send(encode(demo.screen("checked_in", seq=2)).decode())
        qtbot.waitUntil(lambda: w.pages.currentWidget() is w.result, timeout=5000)
        assert app.help.state == h.CLOSED
    finally:
        app.stop()


def test_central_unreachable_shows_the_calm_message(qtbot, broker, topic_root, tmp_path, edge):
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    app = start_station(qtbot, broker, topic_root, tmp_path, edge, nobody)
    try:
        w = app.window
        click(qtbot, w.help_button)
        qtbot.waitUntil(
            lambda: app.help is not None and app.help.state == h.UNAVAILABLE, timeout=5000
        )
        assert w.pages.currentWidget() is w.help_page
        assert w.help_message.primary.text() == (
            "지금은 도움말을 쓸 수 없습니다. 안내 데스크에 문의해 주세요"
        )
        assert w.help_message.secondary.text() == (
            "Help is not available right now — please ask at the information desk"
        )
        click(qtbot, w.back_button)
        assert w.pages.currentWidget() is w.idle
    finally:
        app.stop()


def test_no_help_button_without_assistant_url(qtbot, broker, topic_root, tmp_path, edge):
    app = start_station(qtbot, broker, topic_root, tmp_path, edge, None)
    try:
        assert app.help is None
        assert not app.window.help_button.isVisibleTo(app.window)
    finally:
        app.stop()
