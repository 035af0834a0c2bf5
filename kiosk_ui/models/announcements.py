"""Calls to announce: decode, keep to this room, announce each id once, flash the number."""

from __future__ import annotations

import logging
from collections import OrderedDict
from uuid import UUID

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from kiosk_ui.metrics import BAD_MESSAGES
from protocol.codec import decode
from protocol.errors import DecodeError
from protocol.messages import CallAnnouncement

log = logging.getLogger("nfch.kiosk.calls")

# Enough to cover a long day of recalls; older ids cannot come back (central sends each once,
# the broker redelivers only recent QoS 1 duplicates).
_REMEMBERED_IDS = 2000
# Half a second on, half off: a calm 1 Hz blink, far below the 3 flashes/s seizure limit.
_FLASH_PHASE_MS = 500


class AnnouncementModel(QObject):
    """Turns `room/{id}/call` payloads into one `announce` each and a flashing period."""

    announce = pyqtSignal(object)  # CallAnnouncement, once per announcement_id
    flashChanged = pyqtSignal(bool)

    def __init__(self, room_id: str, flash_s: float = 6.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.room_id = room_id
        self.flash_s = flash_s
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        self.current: CallAnnouncement | None = None
        self.flashing = False
        self.flash_on = False
        self._phases_left = 0
        self._timer = QTimer(self)
        self._timer.setInterval(_FLASH_PHASE_MS)
        self._timer.timeout.connect(self._tick)

    def feed(self, payload: bytes) -> bool:
        """A payload from `room/{id}/call`; True when it is a new call for this room."""
        try:
            call = decode(CallAnnouncement, payload)
        except DecodeError as e:
            BAD_MESSAGES.labels(source="call", reason=e.reason).inc()
            log.warning("calls.bad_message room=%s error=%s", self.room_id, e)
            return False
        if call.room_id != self.room_id:
            BAD_MESSAGES.labels(source="call", reason="wrong_room").inc()
            log.warning("calls.wrong_room room=%s got=%s", self.room_id, call.room_id)
            return False
        if call.announcement_id in self._seen:
            log.info("calls.duplicate id=%s", call.announcement_id)
            return False
        self._seen[call.announcement_id] = None
        while len(self._seen) > _REMEMBERED_IDS:
            self._seen.popitem(last=False)
        self.current = call
        log.info(
            "calls.new id=%s ticket=%d count=%d",
            call.announcement_id,
            call.ticket_number,
            call.call_count,
        )
        self._start_flash()
        self.announce.emit(call)
        return True

    def _start_flash(self) -> None:
        self._phases_left = max(0, round(self.flash_s * 1000 / _FLASH_PHASE_MS))
        if self._phases_left == 0:
            return
        self.flashing = True
        self._set_phase(True)
        self._timer.start()

    def _tick(self) -> None:
        self._phases_left -= 1
        if self._phases_left <= 0:
            self._timer.stop()
            self.flashing = False
            self._set_phase(False)
            return
        self._set_phase(not self.flash_on)

    def _set_phase(self, on: bool) -> None:
        self.flash_on = on
        self.flashChanged.emit(on)
