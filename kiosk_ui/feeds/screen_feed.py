"""The edge daemon's screen feed: a WebSocket of StationScreen text frames, reconnected forever.

QtWebSockets runs on the GUI thread's own event loop, so no thread or asyncio bridge is needed.
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QObject, QTimer, QUrl, pyqtSignal
from PyQt6.QtNetwork import QAbstractSocket
from PyQt6.QtWebSockets import QWebSocket

log = logging.getLogger("nfch.kiosk.screen_feed")


class ScreenFeed(QObject):
    """Connects to `url`, emits each text frame, reconnects with backoff when dropped."""

    frame = pyqtSignal(str)
    connectionChanged = pyqtSignal(bool)

    def __init__(
        self,
        url: str,
        *,
        min_delay_s: float = 0.5,
        max_delay_s: float = 5.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.url = url
        self._min = min_delay_s
        self._max = max_delay_s
        self._delay = min_delay_s
        self._stopped = False
        self.connected = False
        self._ws = QWebSocket(parent=self)
        self._ws.connected.connect(self._on_connected)
        self._ws.disconnected.connect(self._on_disconnected)
        self._ws.textMessageReceived.connect(self.frame.emit)
        self._ws.errorOccurred.connect(self._on_error)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._open)

    def start(self) -> None:
        """Connect (and keep reconnecting until `stop`)."""
        self._stopped = False
        self._open()

    def stop(self) -> None:
        """Close the socket and stop reconnecting."""
        self._stopped = True
        self._retry.stop()
        self._ws.close()

    def _open(self) -> None:
        if not self._stopped:
            self._ws.open(QUrl(self.url))

    def _on_connected(self) -> None:
        log.info("screen_feed.connected url=%s", self.url)
        self._delay = self._min
        self.connected = True
        self.connectionChanged.emit(True)

    def _on_disconnected(self) -> None:
        if self.connected:
            log.warning("screen_feed.disconnected url=%s", self.url)
            self.connected = False
            self.connectionChanged.emit(False)
        if not self._stopped and not self._retry.isActive():
            self._retry.start(int(self._delay * 1000))
            self._delay = min(self._max, self._delay * 2)

    def _on_error(self, error: QAbstractSocket.SocketError) -> None:
        log.info("screen_feed.error url=%s error=%s", self.url, self._ws.errorString())
        if not self.connected and not self._stopped and not self._retry.isActive():
            self._retry.start(int(self._delay * 1000))
            self._delay = min(self._max, self._delay * 2)
