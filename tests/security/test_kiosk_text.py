"""Markup in network text on the kiosk (issue #10, security): a QLabel in Qt's default
AutoText mode renders HTML (`<img>` would load a resource, `<a>` makes a link, `<font>` can
hide or fake text), so every label of the room board and the station screen that shows text
from MQTT or the edge daemon must show it as plain text.

The kiosk's own models and windows (offscreen Qt) are fed hostile room names, department
names, masked names, desk names, station messages and prep notes; every label that holds one
of them must be in PlainText format.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol.base import LocalizedText
from protocol.codec import encode

pytestmark = pytest.mark.qt

HTML = '<img src="file:///etc/passwd"><a href="http://evil.example">링크</a><b>굵게</b>'
TEXT = LocalizedText(ko="방" + HTML, en="Room" + HTML, zh="房" + HTML, ja="部屋" + HTML)


def _labels_showing_markup(window: Any) -> list[str]:
    """Labels that hold the payload and would render it as rich text."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QLabel

    bad, holding = [], 0
    for label in window.findChildren(QLabel):
        text = label.text()
        if "<img" not in text and "<b>" not in text and "<a " not in text:
            continue
        holding += 1
        # AutoText takes a string with tags for rich text, Markdown renders links: only
        # PlainText shows the payload as the characters it is.
        fmt = label.textFormat()
        if fmt != Qt.TextFormat.PlainText:
            bad.append(f"{label.property('role')}: {text[:60]!r} ({fmt.name})")
    assert holding, "no label shows the hostile text at all: the test would prove nothing"
    return bad


def test_room_board_shows_network_text_as_plain_text(qapp: Any) -> None:
    from kiosk_ui import demo
    from kiosk_ui.models.announcements import AnnouncementModel
    from kiosk_ui.models.board import BoardModel
    from kiosk_ui.screenshots import settle
    from kiosk_ui.views.board import RoomBoardWindow

    rooms = demo.directory_rooms()
    rooms = rooms.model_copy(
        update={
            "rooms": [
                r.model_copy(update={"name": TEXT, "department_name": TEXT}) for r in rooms.rooms
            ]
        }
    )
    snap = demo.snapshot(1, calling=101, desk="1")
    hostile_entries = {
        "now_calling": [
            e.model_copy(update={"masked_name": "<b>김*수</b>", "desk": "<i>1</i>"})
            for e in snap.now_calling
        ],
        "waiting": [e.model_copy(update={"masked_name": "<b>이*연</b>"}) for e in snap.waiting],
    }
    snap = snap.model_copy(update=hostile_entries)
    for language in ("en", "zh"):
        board = BoardModel(demo.ROOM_ID, language=language, offline_after_s=60)
        assert board.feed_rooms(encode(rooms))
        board.feed_snapshot(encode(snap))
        calls = AnnouncementModel(demo.ROOM_ID, flash_s=60)
        window = RoomBoardWindow(board, calls)
        call = demo.call(101, desk="1")
        calls.feed(
            encode(call.model_copy(update={"room_name": TEXT, "masked_name": "<b>김*수</b>"}))
        )
        settle(qapp, window)
        assert _labels_showing_markup(window) == []
        window.close()


def test_station_screen_shows_network_text_as_plain_text(qapp: Any) -> None:
    from kiosk_ui import demo
    from kiosk_ui.models.station import StationModel
    from kiosk_ui.screenshots import settle
    from kiosk_ui.views.station import StationWindow

    model = StationModel(demo.STATION_ID, language="en", down_after_s=60)
    model.feed_map(encode(demo.directory_map()))
    window = StationWindow(model)
    model.set_feed_up(True)
    for seq, kind in enumerate(("checked_in", "unknown_card", "already_waiting"), start=1):
        screen = demo.screen(kind, seq=seq)
        screen = screen.model_copy(
            update={
                "message": TEXT,
                "room_name": TEXT if screen.room_name else None,
                "prep_notes": TEXT if screen.prep_notes else None,
            }
        )
        assert model.feed_screen(encode(screen))
        settle(qapp, window)
        assert _labels_showing_markup(window) == [], kind
    window.close()
