"""The room board window: wires BoardModel and AnnouncementModel to labels."""

from __future__ import annotations

import time

from PyQt6.QtCore import QEvent, Qt, pyqtSignal
from PyQt6.QtWidgets import QBoxLayout, QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from kiosk_ui.models import text
from kiosk_ui.models.announcements import AnnouncementModel
from kiosk_ui.models.board import NAME_ROLE, TICKET_ROLE, BoardModel
from kiosk_ui.views import theme
from kiosk_ui.views.widgets import BiLabel, Clock, frame, restyle, role_label

Align = Qt.AlignmentFlag


class WaitingListView(QWidget):
    """The next patients: fixed rows (number, masked name) refreshed from the list model."""

    def __init__(self, board: BoardModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = board
        self.model = board.waiting
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(48)
        grid.setVerticalSpacing(4)
        self.rows = []
        for i in range(board.max_waiting):
            number = role_label("row_number", parent=self)
            number.setAlignment(Align.AlignRight | Align.AlignVCenter)
            name = role_label("row_name", parent=self)
            grid.addWidget(number, i, 0)
            grid.addWidget(name, i, 1)
            self.rows.append((number, name))
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(board.max_waiting, 1)
        self.empty = BiLabel("body", "body2", self, wrap=True)
        self.empty.set(text.bilingual(text.NOBODY_WAITING, board.language))
        grid.addWidget(self.empty, 0, 0, 2, 2)
        self.model.modelReset.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Copy the model's rows into the labels."""
        n = self.model.rowCount()
        for i, (number, name) in enumerate(self.rows):
            if i < n:
                index = self.model.index(i, 0)
                number.setText(self.model.data(index, TICKET_ROLE))
                name.setText(self.model.data(index, NAME_ROLE))
            number.setVisible(i < n)
            name.setVisible(i < n)
        # "No one is waiting" only once a snapshot says so, not while loading.
        self.empty.setVisible(n == 0 and self.board.snapshot is not None)


class RoomBoardWindow(QWidget):
    """Room board: room name, now calling, next in line, wait, served today, offline banner."""

    painted = pyqtSignal(int, float)  # snapshot version shown, perf_counter after the frame

    def __init__(
        self,
        board: BoardModel,
        calls: AnnouncementModel,
        orientation: str = "landscape",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.board = board
        self.calls = calls
        self.setObjectName("screen")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(theme.stylesheet())
        root = QVBoxLayout(self)
        root.setContentsMargins(56, 28, 56, 28)
        root.setSpacing(20)

        header = QHBoxLayout()
        self.title = BiLabel("title", "title2", self)
        self.clock = Clock(self)
        header.addWidget(self.title, 1)
        header.addWidget(self.clock, 0, Align.AlignTop)
        root.addLayout(header)

        body = QBoxLayout(
            QBoxLayout.Direction.LeftToRight
            if orientation == "landscape"
            else QBoxLayout.Direction.TopToBottom
        )
        body.setSpacing(36)
        self.calling_panel = frame("panel", self)
        cp = QVBoxLayout(self.calling_panel)
        cp.setContentsMargins(48, 20, 48, 20)
        cp.setSpacing(0)
        self.calling_heading = BiLabel("heading", "heading2", self.calling_panel, inline=True)
        self.calling_heading.set(text.bilingual(text.NOW_CALLING, board.language))
        self.calling_number = role_label("huge", parent=self.calling_panel)
        self.calling_number.setAlignment(Align.AlignCenter)
        self.calling_name = role_label("calling_name", parent=self.calling_panel)
        self.calling_name.setAlignment(Align.AlignCenter)
        self.calling_desk = BiLabel(
            "heading", "heading2", self.calling_panel, Align.AlignCenter, inline=True
        )
        self.calling_status = BiLabel(
            "headline", "headline2", self.calling_panel, Align.AlignCenter
        )
        cp.addWidget(self.calling_heading)
        cp.addStretch(1)
        cp.addWidget(self.calling_number)
        cp.addWidget(self.calling_name)
        cp.addWidget(self.calling_desk, 0, Align.AlignHCenter)
        cp.addWidget(self.calling_status)
        cp.addStretch(1)
        body.addWidget(self.calling_panel, 3)

        self.next_panel = frame("panel", self)
        npl = QVBoxLayout(self.next_panel)
        npl.setContentsMargins(48, 20, 48, 20)
        npl.setSpacing(8)
        self.next_heading = BiLabel("heading", "heading2", self.next_panel, inline=True)
        self.next_heading.set(text.bilingual(text.NEXT_UP, board.language))
        self.waiting_view = WaitingListView(board, self.next_panel)
        npl.addWidget(self.next_heading)
        npl.addWidget(self.waiting_view, 1)
        body.addWidget(self.next_panel, 2)
        root.addLayout(body, 1)

        # The footer and the offline banner share the bottom strip: offline, the wait and the
        # count are stale, and the banner says since when.
        self.footer = QWidget(self)
        footer = QHBoxLayout(self.footer)
        footer.setContentsMargins(0, 0, 0, 0)
        footer.setSpacing(48)
        self.wait_value = BiLabel("body", "body2", self.footer)
        self.served_value = BiLabel("body", "body2", self.footer, Align.AlignRight)
        footer.addWidget(self.wait_value)
        footer.addStretch(1)
        footer.addWidget(self.served_value)
        root.addWidget(self.footer)
        self.banner = frame("banner", self)
        banner_layout = QVBoxLayout(self.banner)
        banner_layout.setContentsMargins(32, 4, 32, 4)
        self.banner_text = BiLabel("banner", "banner2", self.banner)
        banner_layout.addWidget(self.banner_text)
        root.addWidget(self.banner)

        board.changed.connect(self.refresh)
        board.offlineChanged.connect(self._offline_changed)
        calls.flashChanged.connect(self._flash)
        self.refresh()
        self._offline_changed(board.offline)

    def refresh(self) -> None:
        """Copy the models' formatted state into the labels."""
        b = self.board
        self.title.set(b.title())
        self.waiting_view.refresh()
        call = b.calling(self.calls.current)
        status = b.status_line() if call is None else None
        self.calling_number.setVisible(call is not None)
        self.calling_name.setVisible(call is not None)
        if call is not None:
            self.calling_number.setText(call.ticket)
            self.calling_name.setText(call.masked_name)
        self.calling_desk.set(call.desk if call is not None else None)
        self.calling_status.set(status)
        self.wait_value.set(b.wait_text())
        self.served_value.set(b.served_text())
        if b.offline:
            self.banner_text.set(b.offline_text())
        self.update()

    def _offline_changed(self, offline: bool) -> None:
        self.banner.setVisible(offline)
        self.footer.setVisible(not offline)
        if offline:
            self.banner_text.set(self.board.offline_text())

    def _flash(self, on: bool) -> None:
        self.calling_panel.setObjectName("flash" if on else "panel")
        restyle(self.calling_panel)
        self.refresh()

    def event(self, event: QEvent | None) -> bool:
        handled = super().event(event)
        if event is not None and event.type() == QEvent.Type.UpdateRequest:
            # The whole window, children included, has just been painted into the backing
            # store and flushed: this is the "repainted frame" the latency benchmark times.
            snap = self.board.snapshot
            self.painted.emit(snap.version if snap else 0, time.perf_counter())
        return handled
