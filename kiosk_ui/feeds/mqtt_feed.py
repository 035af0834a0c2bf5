"""The shared `protocol.mqtt.MqttLink`, run in its own thread, delivering to Qt as signals.

Why this design: `MqttLink` already owns what a kiosk needs from MQTT (reconnect with backoff,
TLS, credentials, resubscribe on every connect so retained snapshots are re-delivered), and it
is tested against a real Mosquitto. It wants an asyncio loop; Qt wants its own main loop. So the
link gets a plain thread with its own asyncio loop, and its handler only emits a Qt signal with
(topic, payload): Qt queues the signal into the GUI thread, where the models decode and apply.
Nothing touches a widget from the MQTT thread, and the two loops share no state but the queue
Qt keeps for the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from protocol.mqtt import Incoming, MqttLink
from protocol.settings import MqttSettings

log = logging.getLogger("nfch.kiosk.mqtt")


class MqttFeed(QObject):
    """Subscribes to `topics` and emits `message(topic, payload)` in the GUI thread."""

    message = pyqtSignal(str, bytes)
    connectionChanged = pyqtSignal(bool)
    failed = pyqtSignal(str)

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        topics: list[str],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.client_id = client_id
        self.topics = list(topics)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self.link: MqttLink | None = None

    def start(self) -> None:
        """Start the link thread (returns at once)."""
        self._thread = threading.Thread(target=self._run_thread, name="kiosk-mqtt", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the link and wait for its thread (disconnects cleanly)."""
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            # The loop may close between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
            log.info("mqtt_feed.stopped client=%s", self.client_id)

    def _run_thread(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as e:
            # The link is essential: the app exits non-zero and systemd restarts the kiosk.
            log.exception("mqtt_feed.crashed client=%s", self.client_id)
            self.failed.emit(f"{type(e).__name__}: {e}")

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._ready.set()
        self.link = MqttLink(
            self.settings,
            self.client_id,
            subscriptions=[(t, 1) for t in self.topics],
            on_message=self._on_message,
            # Calls queued while the kiosk was away are stale; retained snapshots come anyway.
            clean_start=True,
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.link.run(), name="kiosk-mqtt-link")
                tg.create_task(self._watch(self.link), name="kiosk-mqtt-watch")
        except asyncio.CancelledError:
            log.info("mqtt_feed.cancelled client=%s", self.client_id)

    async def _on_message(self, msg: Incoming) -> None:
        self.message.emit(msg.topic, msg.payload)

    async def _watch(self, link: MqttLink) -> None:
        while True:
            await link.subscribed.wait()
            self.connectionChanged.emit(True)
            await link.disconnected.wait()
            self.connectionChanged.emit(False)
            await link.connected.wait()
