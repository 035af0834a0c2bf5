"""Painted widgets with no text: the tap hint animation, the QR code, the floor map."""

from __future__ import annotations

import math

import qrcode
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PyQt6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PyQt6.QtWidgets import QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

from kiosk_ui.models.route import FloorSketch
from kiosk_ui.views import theme
from kiosk_ui.views.widgets import role_label

# 25 frames a second is smooth enough for a slow pulse and cheap on a Pi.
_FRAME_MS = 40
_PERIOD_S = 2.4


class TapHint(QWidget):
    """A card gently lowering onto a reader pad, with soft rings where it should touch.

    Only shapes move; every word on the idle screen stays still.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(QSize(560, 400))
        self.phase = 0.0
        self.frames = 0
        self._timer = QTimer(self)
        self._timer.setInterval(_FRAME_MS)
        self._timer.timeout.connect(self._advance)

    def set_running(self, running: bool) -> None:
        """Animate only while shown."""
        if running:
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        self.phase = (self.phase + _FRAME_MS / 1000 / _PERIOD_S) % 1.0
        self.frames += 1
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        cx = w / 2
        pad = QRectF(cx - 170, h - 150, 340, 110)
        p.setPen(QPen(QColor(theme.FG), 6))
        p.setBrush(QColor(theme.PANEL))
        p.drawRoundedRect(pad, 24, 24)
        # Rings grow from the pad's centre and fade: "here".
        centre = QPointF(cx, pad.center().y())
        for k in range(3):
            t = (self.phase + k / 3) % 1.0
            colour = QColor(theme.ACCENT)
            colour.setAlphaF(max(0.0, 1.0 - t) * 0.8)
            p.setPen(QPen(colour, 6))
            p.setBrush(Qt.BrushStyle.NoBrush)
            r = 60 + 140 * t
            p.drawEllipse(centre, r, r * 0.45)
        # The card eases down towards the pad and back up: a slow, calm bob.
        ease = (1 - math.cos(2 * math.pi * self.phase)) / 2
        top = 30 + 110 * ease
        card = QRectF(cx - 120, top, 240, 150)
        p.setPen(QPen(QColor(theme.BG), 4))
        p.setBrush(QColor(theme.FG))
        p.drawRoundedRect(card, 18, 18)
        p.setBrush(QColor(theme.ACCENT))
        p.drawRoundedRect(QRectF(card.left() + 28, card.top() + 36, 56, 42), 8, 8)
        # A downward arrow beside the card.
        p.setPen(QPen(QColor(theme.ACCENT), 10, cap=Qt.PenCapStyle.RoundCap))
        ax = cx + 220
        p.drawLine(QPointF(ax, 60), QPointF(ax, h - 190))
        p.drawLine(QPointF(ax, h - 190), QPointF(ax - 30, h - 230))
        p.drawLine(QPointF(ax, h - 190), QPointF(ax + 30, h - 230))
        p.end()


class QrCode(QWidget):
    """A QR code drawn module by module from the `qrcode` package's matrix (no Pillow)."""

    def __init__(self, parent: QWidget | None = None, size: int = 320) -> None:
        super().__init__(parent)
        self.setFixedSize(size, size)
        self.matrix: list[list[bool]] = []

    def set_data(self, data: str | None) -> None:
        """Encode `data` (or show nothing)."""
        if not data:
            self.matrix = []
        else:
            qr = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
            qr.add_data(data)
            qr.make(fit=True)
            self.matrix = [[bool(c) for c in row] for row in qr.get_matrix()]
        self.setVisible(bool(self.matrix))
        self.update()

    def paintEvent(self, event: QPaintEvent | None) -> None:
        if not self.matrix:
            return
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(theme.QR_LIGHT))
        n = len(self.matrix)
        quiet = 3  # modules of white margin each side, so phones find the code
        cell = min(self.width(), self.height()) / (n + 2 * quiet)
        dark = QColor(theme.QR_DARK)
        for y, row in enumerate(self.matrix):
            for x, on in enumerate(row):
                if on:
                    p.fillRect(
                        QRectF((x + quiet) * cell, (y + quiet) * cell, cell + 0.5, cell + 0.5),
                        dark,
                    )
        p.end()


class FloorCanvas(QWidget):
    """One floor: corridors faint, the route bold, start and end marked."""

    def __init__(self, sketch: FloorSketch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sketch = sketch
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(240, 160))

    def paintEvent(self, event: QPaintEvent | None) -> None:
        s = self.sketch
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.PANEL))
        p.drawRoundedRect(QRectF(self.rect()), 20, 20)
        margin = 36
        scale = min(
            (self.width() - 2 * margin) / s.width_m, (self.height() - 2 * margin) / s.height_m
        )
        ox = (self.width() - s.width_m * scale) / 2
        oy = (self.height() - s.height_m * scale) / 2

        def pt(xy: tuple[float, float]) -> QPointF:
            return QPointF(ox + xy[0] * scale, oy + xy[1] * scale)

        p.setPen(QPen(QColor(theme.MAP_EDGE), 10, cap=Qt.PenCapStyle.RoundCap))
        for a, b in s.edges:
            p.drawLine(pt(a), pt(b))
        if len(s.path) > 1:
            pen = QPen(QColor(theme.MAP_PATH), 16, cap=Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            p.setPen(pen)
            for a, b in zip(s.path, s.path[1:], strict=False):
                p.drawLine(pt(a), pt(b))
        p.setPen(QPen(QColor(theme.BG), 4))
        for t in s.transfers:
            p.setBrush(QColor(theme.MAP_PATH))
            p.drawRect(QRectF(pt(t).x() - 18, pt(t).y() - 18, 36, 36))
        if s.start is not None:
            p.setBrush(QColor(theme.MAP_START))
            p.drawEllipse(pt(s.start), 24, 24)
        if s.end is not None:
            p.setBrush(QColor(theme.MAP_END))
            c = pt(s.end)
            star = [
                QPointF(
                    c.x() + (30 if k % 2 == 0 else 13) * math.sin(k * math.pi / 5),
                    c.y() - (30 if k % 2 == 0 else 13) * math.cos(k * math.pi / 5),
                )
                for k in range(10)
            ]
            p.drawPolygon(QPolygonF(star))
        p.end()


class FloorMap(QWidget):
    """The floors a route crosses, side by side, each with its floor label (a QLabel)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(24)
        self.canvases: list[FloorCanvas] = []

    def set_sketch(self, floors: list[FloorSketch]) -> None:
        """Replace the drawing (hidden when there is nothing to draw)."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.hide()
                w.setParent(None)
                w.deleteLater()
        self.canvases = []
        for sketch in floors[:3]:
            column = QWidget(self)
            col = QVBoxLayout(column)
            col.setContentsMargins(0, 0, 0, 0)
            col.setSpacing(8)
            label = role_label("floor", sketch.label, column)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            canvas = FloorCanvas(sketch, column)
            col.addWidget(label)
            col.addWidget(canvas, 1)
            self._layout.addWidget(column, 1)
            self.canvases.append(canvas)
        self.setVisible(bool(floors))
