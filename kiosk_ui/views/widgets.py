"""Small building blocks: a role label, a two-language block, a clock, a banner."""

from __future__ import annotations

from datetime import datetime

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QBoxLayout, QFrame, QLabel, QVBoxLayout, QWidget

from kiosk_ui.models.text import Bilingual, clock_text
from kiosk_ui.views import theme


def role_label(role: str, text: str = "", parent: QWidget | None = None) -> QLabel:
    """A label styled by its role in the theme (size, weight, colour)."""
    label = QLabel(text, parent)
    label.setProperty("role", role)
    label.setTextFormat(Qt.TextFormat.PlainText)  # never interpret text from the network
    if role in theme.KEY_NUMBER_ROLES:
        # Digits sit between the baseline and ~0.73 em; the CJK font's 1.45 em line box
        # would waste a third of the screen around a 300 px number.
        label.setFixedHeight(round(theme.SIZES[role][0] * 1.05))
    return label


class BiLabel(QWidget):
    """Korean on top, the second language below it (hidden when empty)."""

    def __init__(
        self,
        role: str,
        role2: str,
        parent: QWidget | None = None,
        align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
        wrap: bool = False,
        inline: bool = False,
    ) -> None:
        super().__init__(parent)
        layout = QBoxLayout(
            QBoxLayout.Direction.LeftToRight if inline else QBoxLayout.Direction.TopToBottom, self
        )
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(24 if inline else 0)
        self.primary = role_label(role, parent=self)
        self.secondary = role_label(role2, parent=self)
        for label in (self.primary, self.secondary):
            label.setAlignment(align | Qt.AlignmentFlag.AlignBottom)
            label.setWordWrap(wrap)
            layout.addWidget(label)
        if inline:
            # Headings: the second language beside the Korean, on the same baseline.
            layout.addStretch(1)

    def set(self, text: Bilingual | None) -> None:
        """Show `text` (or nothing)."""
        self.setVisible(text is not None)
        if text is None:
            return
        self.primary.setText(text.primary)
        self.secondary.setText(text.secondary)
        self.secondary.setVisible(bool(text.secondary))


class Clock(QLabel):
    """HH:MM, updated on the minute; it changes digits in place, it never moves."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "clock")
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def refresh(self) -> None:
        """Show the current time."""
        self.setText(clock_text(datetime.now().astimezone()))

    def freeze(self, when: datetime) -> None:
        """Show `when` and stop ticking (screenshots that should not change from run to run)."""
        self._timer.stop()
        self.setText(clock_text(when))


def frame(name: str, parent: QWidget | None = None) -> QFrame:
    """A styled panel (`panel`, `banner`, `note`)."""
    f = QFrame(parent)
    f.setObjectName(name)
    return f


def restyle(widget: QWidget) -> None:
    """Re-apply the style sheet after an object name or property change."""
    style = widget.style()
    if style is None:
        return
    for w in [widget, *widget.findChildren(QWidget)]:
        style.unpolish(w)
        style.polish(w)
    widget.update()


class BigButton(QFrame):
    """A large touch button holding a two-language label; `clicked` on release inside it."""

    clicked = pyqtSignal()

    def __init__(
        self,
        role: str,
        role2: str,
        parent: QWidget | None = None,
        *,
        inline: bool = False,
        wrap: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("button")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(36, 12, 36, 12)
        self.label = BiLabel(role, role2, self, Qt.AlignmentFlag.AlignLeft, wrap, inline)
        # The frame takes the press, wherever on it the finger lands.
        self.label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        layout.addWidget(self.label)

    def set(self, text: Bilingual | None) -> None:
        """Show `text` (the button hides without it)."""
        self.label.set(text)
        self.setVisible(text is not None)

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is not None:
            event.accept()  # so the release comes here too

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        if event is not None and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()
