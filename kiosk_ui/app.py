"""Wiring: config -> models, feeds, announcer, window; and running it under QApplication."""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import QObject, QSize, QTimer
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QApplication, QWidget

from kiosk_ui.audio.announcer import Announcer
from kiosk_ui.config import KioskConfig
from kiosk_ui.errors import FeedFailed, KioskConfigError, KioskError, exit_code
from kiosk_ui.feeds.assistant_client import AssistantClient
from kiosk_ui.feeds.mqtt_feed import MqttFeed
from kiosk_ui.feeds.screen_feed import ScreenFeed
from kiosk_ui.models.announcements import AnnouncementModel
from kiosk_ui.models.board import BoardModel
from kiosk_ui.models.cache import DiskCache
from kiosk_ui.models.help import HelpModel
from kiosk_ui.models.station import StationModel
from kiosk_ui.views import theme
from kiosk_ui.views.board import RoomBoardWindow
from kiosk_ui.views.station import StationWindow
from protocol.messages import CallAnnouncement
from protocol.systemd import sd_notify, watchdog_interval_s
from protocol.topics import Topics

log = logging.getLogger("nfch.kiosk")

LANDSCAPE = QSize(1920, 1080)
PORTRAIT = QSize(1080, 1920)


def screen_size(config: KioskConfig) -> QSize:
    """The panel size the layout is designed for."""
    return LANDSCAPE if config.orientation == "landscape" else PORTRAIT


@dataclass
class RoomBoard:
    """A running room board: models, MQTT feed, announcer and window."""

    config: KioskConfig
    board: BoardModel
    calls: AnnouncementModel
    announcer: Announcer
    feed: MqttFeed
    window: RoomBoardWindow
    topics: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Show the cached state, then connect."""
        self.board.start()
        self.feed.start()

    def stop(self) -> None:
        """Disconnect and stop speaking."""
        self.feed.stop()
        self.announcer.shutdown()


@dataclass
class StationScreenApp:
    """A running station screen: model, the daemon's screen feed, the map feed, window."""

    config: KioskConfig
    model: StationModel
    screen_feed: ScreenFeed
    map_feed: MqttFeed
    window: StationWindow
    help: HelpModel | None = None
    assistant: AssistantClient | None = None

    def start(self) -> None:
        """Show the cached map, then connect to the daemon and the broker."""
        self.model.start()
        self.screen_feed.start()
        self.map_feed.start()

    def stop(self) -> None:
        """Disconnect both feeds."""
        self.screen_feed.stop()
        self.map_feed.stop()


def build_room_board(config: KioskConfig, parent: QObject | None = None) -> RoomBoard:
    """Everything for `--room`, not yet started."""
    if config.room_id is None:
        raise KioskConfigError("room board mode needs room_id (--room ROOM_ID)")
    room = config.room_id
    t = Topics(config.mqtt.topic_root)
    cache = DiskCache(config.cache_dir)
    board = BoardModel(
        room,
        language=config.language,
        max_waiting=config.max_waiting_shown,
        offline_after_s=config.offline_after_s,
        cache=cache,
    )
    calls = AnnouncementModel(room, flash_s=config.flash_s)
    announcer = Announcer(
        config.cache_dir,
        muted=config.muted,
        speech=config.speech,
        chime_file=config.chime_file,
        volume=config.chime_volume,
    )
    topics = {
        t.room(room, "queue"): "queue",
        t.room(room, "call"): "call",
        t.directory("rooms"): "rooms",
    }
    feed = MqttFeed(config.mqtt, f"kiosk-room-{room}", list(topics))

    def dispatch(topic: str, payload: bytes) -> None:
        what = topics.get(topic)
        if what == "queue":
            board.feed_snapshot(payload)
        elif what == "call":
            calls.feed(payload)
        elif what == "rooms":
            board.feed_rooms(payload)

    def on_call(call: CallAnnouncement) -> None:
        announcer.announce(call)

    feed.message.connect(dispatch)
    calls.announce.connect(on_call)
    window = RoomBoardWindow(board, calls, config.orientation)
    return RoomBoard(config, board, calls, announcer, feed, window, topics)


def build_station(config: KioskConfig) -> StationScreenApp:
    """Everything for `--station`, not yet started."""
    t = Topics(config.mqtt.topic_root)
    cache = DiskCache(config.cache_dir)
    model = StationModel(
        config.station_id,
        language=config.language,
        result_timeout_s=config.result_timeout_s,
        down_after_s=config.station_down_after_s,
        cache=cache,
    )
    screen_feed = ScreenFeed(config.edge_screen_url)
    screen_feed.frame.connect(model.feed_screen)
    screen_feed.connectionChanged.connect(model.set_feed_up)
    map_topic = t.directory("map")
    client = f"kiosk-station-{config.station_id}" if config.station_id else "kiosk-station"
    map_feed = MqttFeed(config.mqtt, client, [map_topic])

    def dispatch(topic: str, payload: bytes) -> None:
        if topic == map_topic:
            model.feed_map(payload)

    map_feed.message.connect(dispatch)
    help_model = assistant = None
    if config.assistant_url is not None:
        help_model = HelpModel(language=config.language, timeout_s=config.result_timeout_s)
        assistant = AssistantClient(config.assistant_url, help_model, station_id=config.station_id)
    window = StationWindow(model, config.orientation, help_model=help_model)
    return StationScreenApp(config, model, screen_feed, map_feed, window, help_model, assistant)


def make_qapp(argv: list[str] | None = None) -> QApplication:
    """The QApplication with the kiosk's font (or the existing one)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv or [sys.argv[0]])
    app.setFont(QFont(theme.FONT_FAMILY))
    return app


def run(config: KioskConfig, *, exit_after_first_frame: bool = False) -> int:
    """Run a room board or a station screen until SIGTERM/SIGINT; the exit status."""
    started = time.perf_counter()
    app = make_qapp()
    try:
        kiosk: Any = build_room_board(config) if config.room_id else build_station(config)
    except KioskError as e:
        print(f"nfc-hospital kiosk: {e}", file=sys.stderr)
        return exit_code(e)
    window: QWidget = kiosk.window
    failure: list[KioskError] = []

    def feed_failed(reason: str) -> None:
        failure.append(FeedFailed(f"MQTT link died: {reason}"))
        app.exit(1)

    feeds = [kiosk.feed] if isinstance(kiosk, RoomBoard) else [kiosk.map_feed]
    for f in feeds:
        f.failed.connect(feed_failed)
    if config.http.port:
        from prometheus_client import start_http_server

        start_http_server(config.http.port, addr=config.http.host)
        log.info("kiosk.metrics host=%s port=%d", config.http.host, config.http.port)

    # Python only runs signal handlers between Qt events; a slow timer lets it in.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: app.quit())
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(250)
    # Pinged from the Qt event loop itself: a hung GUI thread stops the pings and systemd
    # restarts the kiosk.
    watchdog = QTimer()
    watchdog.timeout.connect(lambda: sd_notify("WATCHDOG=1"))
    try:
        window.resize(screen_size(config))
        if config.fullscreen:
            window.showFullScreen()
        else:
            window.show()
        kiosk.start()
        if exit_after_first_frame:
            app.processEvents()
            window.repaint()
            print(f"first_frame_ms={(time.perf_counter() - started) * 1000:.1f}", flush=True)
            status = 0
        else:
            app.processEvents()
            window.repaint()
            sd_notify("READY=1")  # after the first frame
            interval = watchdog_interval_s()
            if interval is not None:
                sd_notify("WATCHDOG=1")
                watchdog.start(max(1, int(interval * 1000)))
            log.info(
                "kiosk.started mode=%s watchdog_s=%s",
                "room" if isinstance(kiosk, RoomBoard) else "station",
                interval,
            )
            status = app.exec()
        log.info("kiosk.stopping status=%d", status)
    finally:
        sd_notify("STOPPING=1")
        watchdog.stop()
        tick.stop()
        kiosk.stop()
        window.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("kiosk.stopped")
    if failure:
        print(f"nfc-hospital kiosk: {failure[0]}", file=sys.stderr)
        log.error("kiosk.exit reason=%s", failure[0])
        return exit_code(failure[0])
    return status
