"""The station screen window: idle, result with route, error and station-down pages."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk_ui.models import help as help_states
from kiosk_ui.models import text
from kiosk_ui.models.help import HelpModel
from kiosk_ui.models.route import route_sketch
from kiosk_ui.models.station import STATION_DOWN, StationModel
from kiosk_ui.views import theme
from kiosk_ui.views.drawing import FloorMap, QrCode, TapHint
from kiosk_ui.views.widgets import BigButton, BiLabel, Clock, frame, role_label

Align = Qt.AlignmentFlag


class CalmIcon(QWidget):
    """A large soft circle with an 'i': says 'here is some help', not 'error'."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(220, 220)

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(theme.ACCENT), 12))
        p.setBrush(QColor(theme.PANEL))
        p.drawEllipse(12, 12, 196, 196)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.ACCENT))
        p.drawEllipse(98, 52, 24, 24)
        p.drawRoundedRect(99, 92, 22, 76, 10, 10)
        p.end()


class StationWindow(QWidget):
    """Wires StationModel (and HelpModel, when central's assistant is configured) to the
    pages; nothing here decides what to say."""

    def __init__(
        self,
        model: StationModel,
        orientation: str = "landscape",
        parent: QWidget | None = None,
        *,
        help_model: HelpModel | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.help = help_model
        lang = model.language
        self.setObjectName("screen")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(theme.stylesheet())
        root = QVBoxLayout(self)
        root.setContentsMargins(56, 16, 56, 16)
        root.setSpacing(12)
        top = QHBoxLayout()
        self.result_message = BiLabel("heading", "heading2", self)
        top.addWidget(self.result_message, 1)
        # Offline, the note sits top right where staff and patients look for the time.
        self.offline = frame("banner", self)
        ol = QVBoxLayout(self.offline)
        ol.setContentsMargins(28, 4, 28, 4)
        self.offline_text = BiLabel("banner", "banner2", self.offline)
        ol.addWidget(self.offline_text)
        top.addWidget(self.offline, 0, Align.AlignTop)
        top.addSpacing(32)
        self.clock = Clock(self)
        top.addWidget(self.clock, 0, Align.AlignTop)
        root.addLayout(top)
        self.pages = QStackedWidget(self)
        root.addWidget(self.pages, 1)

        # idle
        self.idle = QWidget()
        il = QVBoxLayout(self.idle)
        il.setSpacing(24)
        self.idle_message = BiLabel("headline", "headline2", self.idle, Align.AlignCenter)
        self.idle_detail = BiLabel("body", "body2", self.idle, Align.AlignCenter, wrap=True)
        self.tap_hint = TapHint(self.idle)
        il.addWidget(self.idle_message)
        il.addWidget(self.idle_detail)
        # The Help button shares the tap hint's cell, bottom right, so the idle page keeps its
        # height and the hint its place.
        hint_cell = QGridLayout()
        hint_cell.setContentsMargins(0, 0, 0, 0)
        hint_cell.addWidget(self.tap_hint, 0, 0)
        self.help_button = BigButton("title", "title2", self.idle, inline=True, wrap=False)
        self.help_button.set(text.bilingual(text.HELP, lang))
        self.help_button.setVisible(help_model is not None)
        hint_cell.addWidget(self.help_button, 0, 0, Align.AlignRight | Align.AlignBottom)
        il.addLayout(hint_cell, 1)
        self.pages.addWidget(self.idle)

        # result
        self.result = QWidget()
        rl = QVBoxLayout(self.result)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(20)
        # Landscape: number | route | QR and notes. Portrait: number and QR side by side, the
        # route below across the full width.
        portrait = orientation == "portrait"
        cols = QGridLayout()
        cols.setHorizontalSpacing(24 if portrait else 32)
        cols.setVerticalSpacing(24)
        left = frame("panel", self.result)
        left.setFixedWidth(540 if portrait else 560)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(36, 16, 36, 16)
        ll.setSpacing(4)
        self.number_heading = BiLabel("small", "small2", left, inline=True)
        self.number_heading.set(text.bilingual(text.YOUR_NUMBER, lang))
        self.ticket = role_label("ticket", parent=left)
        self.ticket.setAlignment(Align.AlignCenter)
        self.standing = BiLabel("body", "small2", left, wrap=True)
        self.room = BiLabel("small", "small2", left, wrap=True)
        ll.addWidget(self.number_heading)
        ll.addWidget(self.ticket)
        ll.addWidget(self.standing)
        ll.addStretch(1)
        ll.addWidget(self.room)
        cols.addWidget(left, 0, 0)

        middle = QVBoxLayout()
        middle.setSpacing(12)
        self.way_heading = BiLabel("small", "small2", self.result, inline=True)
        self.way_heading.set(text.bilingual(text.WAY_TO_ROOM, lang))
        self.floor_map = FloorMap(self.result)
        self.floor_map.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.steps_box = QWidget(self.result)
        sl = QVBoxLayout(self.steps_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.setSpacing(8)
        self.step_labels = [BiLabel("small", "small2", self.steps_box, wrap=True) for _ in range(4)]
        for s in self.step_labels:
            sl.addWidget(s)
        middle.addWidget(self.way_heading)
        middle.addWidget(self.floor_map, 1)
        middle.addWidget(self.steps_box)
        if portrait:
            cols.addLayout(middle, 1, 0, 1, 2)
            cols.setRowStretch(1, 1)
        else:
            cols.addLayout(middle, 0, 1)
            cols.setColumnStretch(1, 1)

        right = QVBoxLayout()
        right.setSpacing(16)
        self.qr = QrCode(self.result, 240)
        self.qr_caption = BiLabel("small", "small2", self.result, Align.AlignCenter)
        self.qr_caption.set(text.bilingual(text.ON_YOUR_PHONE, lang))
        self.note = frame("note", self.result)
        self.note.setFixedWidth(400)
        nl = QVBoxLayout(self.note)
        nl.setContentsMargins(24, 16, 24, 16)
        self.note_heading = BiLabel("small", "small2", self.note)
        self.note_heading.set(text.bilingual(text.PREP, lang))
        self.note_text = BiLabel("small", "small2", self.note, wrap=True)
        nl.addWidget(self.note_heading)
        nl.addWidget(self.note_text)
        right.addWidget(self.qr, 0, Align.AlignHCenter)
        right.addWidget(self.qr_caption)
        right.addWidget(self.note)
        right.addStretch(1)
        cols.addLayout(right, 0, 1 if portrait else 2)
        rl.addLayout(cols, 1)
        self.pages.addWidget(self.result)

        # error and station-down share one calm layout
        self.error = QWidget()
        el = QVBoxLayout(self.error)
        el.setSpacing(40)
        el.addStretch(1)
        self.error_icon = CalmIcon(self.error)
        el.addWidget(self.error_icon, 0, Align.AlignHCenter)
        self.error_message = BiLabel("headline", "headline2", self.error, Align.AlignCenter, True)
        self.error_detail = BiLabel("body", "body2", self.error, Align.AlignCenter, True)
        el.addWidget(self.error_message)
        el.addWidget(self.error_detail)
        el.addStretch(2)
        self.pages.addWidget(self.error)

        self._build_help(lang)
        model.changed.connect(self.refresh)
        if help_model is not None:
            self.help_button.clicked.connect(help_model.open)
            help_model.changed.connect(self.refresh)
        self.refresh()

    def _build_help(self, lang: str) -> None:
        # One page for every Help state: the parts not needed in a state are hidden.
        self.help_page = QWidget()
        hl = QVBoxLayout(self.help_page)
        hl.setSpacing(28)
        self.help_title = BiLabel("title", "title2", self.help_page, wrap=True, inline=True)
        self.help_title.set(text.bilingual(text.HELP_TITLE, lang))
        hl.addWidget(self.help_title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(32)
        grid.setVerticalSpacing(24)
        self.question_buttons: list[BigButton] = []
        for i in range(help_states.MAX_QUESTIONS):
            b = BigButton("small", "small2", self.help_page)
            b.clicked.connect(lambda i=i: self.help.choose(i) if self.help else None)
            grid.addWidget(b, i // 2, i % 2)
            self.question_buttons.append(b)
        hl.addLayout(grid)
        answer_row = QHBoxLayout()
        answer_row.setSpacing(40)
        self.help_message = BiLabel("body", "body2", self.help_page, wrap=True)
        answer_row.addWidget(self.help_message, 1, Align.AlignTop)
        way = QVBoxLayout()
        way.setSpacing(12)
        self.help_map = FloorMap(self.help_page)
        self.help_map.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.help_steps = [BiLabel("small", "small2", self.help_page, wrap=True) for _ in range(4)]
        way.addWidget(self.help_map, 1)
        for s in self.help_steps:
            way.addWidget(s)
        self.help_way = QWidget(self.help_page)
        self.help_way.setLayout(way)
        answer_row.addWidget(self.help_way, 1)
        hl.addLayout(answer_row, 1)
        self.back_button = BigButton("heading", "heading2", self.help_page, inline=True, wrap=False)
        self.back_button.set(text.bilingual(text.BACK, lang))
        self.back_button.clicked.connect(lambda: self.help.back() if self.help else None)
        hl.addWidget(self.back_button, 0, Align.AlignLeft)
        self.pages.addWidget(self.help_page)
        # Empty until opened: hidden parts keep the page from setting the window's height.
        for b in self.question_buttons:
            b.set(None)
        self.help_message.set(None)
        for label in self.help_steps:
            label.set(None)
        self.help_way.setVisible(False)

    def _show_help(self, h: HelpModel) -> None:
        questions = h.question_labels() if h.state == help_states.QUESTIONS else []
        for i, b in enumerate(self.question_buttons):
            b.set(questions[i] if i < len(questions) else None)
        message = h.message()
        self.help_message.set(message)
        route = h.route()
        sketch = route_sketch(self.model.map, route) if route and self.model.map else []
        self.help_map.set_sketch(sketch)
        steps = h.steps()
        for i, label in enumerate(self.help_steps):
            label.set(steps[i] if i < len(steps) else None)
        self.help_way.setVisible(bool(sketch) or bool(steps))
        self.pages.setCurrentWidget(self.help_page)

    def refresh(self) -> None:
        """Show the model's page."""
        m = self.model
        page = m.page
        self.tap_hint.set_running(page == "idle")
        self.result_message.setVisible(page == "result")
        h = self.help
        if h is not None and page != "idle":
            h.close()  # a card tap (or a down daemon) takes the screen from Help
        if h is not None and page == "idle" and h.state != help_states.CLOSED:
            self.tap_hint.set_running(False)
            self._show_help(h)
        elif page == "idle":
            self.idle_message.set(m.message())
            self.idle_detail.set(m.detail())
            self.pages.setCurrentWidget(self.idle)
        elif page == "result":
            self.result_message.set(m.message())
            ticket = m.ticket_text()
            self.ticket.setText(ticket or "")
            self.ticket.setVisible(ticket is not None)
            self.number_heading.setVisible(ticket is not None)
            self.standing.set(m.standing())
            self.room.set(m.room())
            self.floor_map.set_sketch(m.sketch())
            steps = m.steps()
            for i, label in enumerate(self.step_labels):
                label.set(steps[i] if i < len(steps) else None)
            self.way_heading.setVisible(bool(steps) or self.floor_map.isVisibleTo(self))
            self.qr.set_data(m.phone_url())
            self.qr_caption.setVisible(m.phone_url() is not None)
            notes = m.prep_notes()
            self.note.setVisible(notes is not None)
            self.note_text.set(notes)
            self.pages.setCurrentWidget(self.result)
        else:
            self.error_message.set(m.message())
            self.error_detail.set(m.detail())
            self.pages.setCurrentWidget(self.error)
        offline = m.offline_text() if page != STATION_DOWN else None
        self.offline.setVisible(offline is not None)
        self.offline_text.set(offline)
