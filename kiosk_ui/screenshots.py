"""Render each screen offscreen to PNG (`nfc-hospital kiosk screenshots DIR`).

The screens are driven through the same models as in service, fed with example protocol
documents (`kiosk_ui.demo`), so a screenshot shows exactly what a kiosk would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json

from PyQt6.QtWidgets import QApplication, QWidget

from kiosk_ui import demo
from kiosk_ui.app import LANDSCAPE, PORTRAIT, make_qapp
from kiosk_ui.models import help as help_states
from kiosk_ui.models.announcements import AnnouncementModel
from kiosk_ui.models.board import BoardModel
from kiosk_ui.models.help import HelpModel
from kiosk_ui.models.station import StationModel
from kiosk_ui.views.board import RoomBoardWindow
from kiosk_ui.views.station import StationWindow
from kiosk_ui.views.widgets import Clock
from protocol.codec import encode
from protocol.messages import ScreenKind


def settle(app: QApplication, window: QWidget) -> None:
    """Lay out and paint everything pending."""
    window.resize(PORTRAIT if window.property("portrait") else LANDSCAPE)
    for clock in window.findChildren(Clock):
        clock.freeze(demo.NOW)
    window.show()
    for _ in range(3):
        app.processEvents()


def board_window(
    language: str,
    *,
    snapshot: bool = True,
    offline: bool = False,
    flash: bool = False,
    calling: int | None = 101,
    desk: str | None = None,
    orientation: str = "landscape",
) -> RoomBoardWindow:
    """A room board fed with the demo room."""
    clock = [0.0]
    board = BoardModel(
        demo.ROOM_ID, language=language, offline_after_s=60, monotonic=lambda: clock[0]
    )
    board.feed_rooms(encode(demo.directory_rooms()))
    if snapshot:
        board.feed_snapshot(encode(demo.snapshot(1, calling=calling, desk=desk)))
    calls = AnnouncementModel(demo.ROOM_ID, flash_s=60)
    window = RoomBoardWindow(board, calls, orientation)
    window.setProperty("portrait", orientation == "portrait")
    if flash:
        later = demo.NOW + timedelta(seconds=5)
        calls.feed(encode(demo.call(calling or 101, desk=desk, at=later)))
    if offline:
        board.last_arrival = demo.NOW
        clock[0] = 3600.0
        board.check_offline()
    return window


def station_window(
    language: str,
    kind: ScreenKind | None,
    *,
    offline: bool = False,
    down: bool = False,
    orientation: str = "landscape",
) -> StationWindow:
    """A station screen showing `kind` (None: the daemon is not there)."""
    model = StationModel(demo.STATION_ID, language=language, down_after_s=0.001)
    model.feed_map(encode(demo.directory_map()))
    window = StationWindow(model, orientation)
    window.setProperty("portrait", orientation == "portrait")
    if down:
        model.set_feed_up(False)
        model._went_down()  # what the down timer does, without waiting for it
    else:
        model.set_feed_up(True)
        if kind is not None:
            model.feed_screen(encode(demo.screen(kind, offline=offline)))
    return window


def help_window(language: str, state: str) -> StationWindow:
    """A station screen on its Help page in `state` (closed: the idle page with the Help
    button; questions, answer or unavailable), fed the
    replies central would send (`kiosk_ui.demo`)."""
    model = StationModel(demo.STATION_ID, language=language)
    model.feed_map(encode(demo.directory_map()))
    model.set_feed_up(True)
    model.feed_screen(encode(demo.screen("idle")))
    help_model = HelpModel(language=language, timeout_s=600)
    window = StationWindow(model, help_model=help_model)
    window.setProperty("portrait", False)
    if state == help_states.CLOSED:
        return window  # the idle page with its Help button
    help_model.open()
    if state == help_states.UNAVAILABLE:
        help_model.failed(help_model.ticket, "demo")
        return window
    help_model.questions_arrived(help_model.ticket, json.dumps(demo.top_questions()).encode())
    if state == help_states.ANSWER:
        help_model.choose(4)  # "수납은 어디서 하나요?"
        help_model.answer_arrived(help_model.ticket, json.dumps(demo.answer()).encode())
    return window


def screens(language: str = "en") -> dict[str, Callable[[], QWidget]]:
    """Every screen worth a screenshot, by name, as a function building its window."""
    return {
        "room-board": lambda: board_window(language),
        "room-board-called": lambda: board_window(language, flash=True, calling=118, desk="2"),
        "room-board-offline": lambda: board_window(language, offline=True),
        "room-board-empty": lambda: board_window(language, calling=None, snapshot=False),
        "station-idle": lambda: station_window(language, "idle"),
        "station-idle-help-button": lambda: help_window(language, help_states.CLOSED),
        "station-help": lambda: help_window(language, help_states.QUESTIONS),
        "station-help-answer": lambda: help_window(language, help_states.ANSWER),
        "station-help-unavailable": lambda: help_window(language, help_states.UNAVAILABLE),
        "station-checked-in": lambda: station_window(language, "checked_in"),
        "station-checked-in-offline": lambda: station_window(language, "checked_in", offline=True),
        "station-called-now": lambda: station_window(language, "called_now"),
        "station-unknown-card": lambda: station_window(language, "unknown_card"),
        "station-visit-finished": lambda: station_window(language, "visit_finished"),
        "station-down": lambda: station_window(language, None, down=True),
        "portrait-room-board": lambda: board_window(language, orientation="portrait"),
        "portrait-station-checked-in": lambda: station_window(
            language, "checked_in", orientation="portrait"
        ),
    }


def render_all(directory: Path, language: str = "en") -> list[Path]:
    """Write one PNG per screen into `directory`; returns the paths."""
    app = make_qapp()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in screens(language).items():
        window = make()
        settle(app, window)
        path = directory / (name + ("" if language == "en" else f"-{language}") + ".png")
        window.grab().save(str(path))
        window.close()
        window.deleteLater()
        paths.append(path)
    app.processEvents()
    return paths
