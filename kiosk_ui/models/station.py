"""Station screen state: the edge daemon's latest StationScreen, guarded and timed out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from kiosk_ui.metrics import BAD_MESSAGES, STALE_MESSAGES
from kiosk_ui.models import text
from kiosk_ui.models.cache import DiskCache
from kiosk_ui.models.route import FloorSketch, route_sketch
from kiosk_ui.models.text import Bilingual
from protocol.base import LocalizedText
from protocol.codec import decode
from protocol.errors import DecodeError
from protocol.hospital_map import HospitalMap
from protocol.messages import DirectoryMap, StationScreen

log = logging.getLogger("nfch.kiosk.station")

STATION_DOWN = "station_down"
RESULT_KINDS = frozenset({"checked_in", "already_waiting", "called_now", "in_exam"})
ERROR_KINDS = frozenset({"unknown_card", "visit_finished", "no_ticket", "read_error", "refused"})
MAX_STEPS = 4


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StationModel(QObject):
    """What the station screen shows; `page` is idle, result, error or station_down."""

    changed = pyqtSignal()

    def __init__(
        self,
        station_id: str | None = None,
        *,
        language: str = "en",
        result_timeout_s: float = 30.0,
        down_after_s: float = 10.0,
        cache: DiskCache | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.station_id = station_id
        self.language = language
        self.cache = cache
        self._wall = wall_clock
        self.screen: StationScreen | None = None
        self.map: HospitalMap | None = None
        self._map_version = 0
        self.feed_up = False
        self.down = False
        self._result_timer = QTimer(self)
        self._result_timer.setSingleShot(True)
        self._result_timer.setInterval(int(result_timeout_s * 1000))
        self._result_timer.timeout.connect(self._result_expired)
        self._down_timer = QTimer(self)
        self._down_timer.setSingleShot(True)
        self._down_timer.setInterval(int(down_after_s * 1000))
        self._down_timer.timeout.connect(self._went_down)
        self._started = time.monotonic()

    def start(self) -> None:
        """Load the cached map and wait for the daemon's feed."""
        if self.cache is not None:
            entry = self.cache.load("map")
            if entry is not None:
                try:
                    self._accept_map(entry[0], from_cache=True)
                except DecodeError as e:
                    log.warning("station.cache_ignored entry=map error=%s", e)
        if not self.feed_up:
            self._down_timer.start()

    # --- input ------------------------------------------------------------------------------

    def set_feed_up(self, up: bool) -> None:
        """The daemon's WebSocket connected (True) or dropped (False)."""
        if up == self.feed_up:
            return
        self.feed_up = up
        if up:
            self._down_timer.stop()
            # A new connection may be a restarted daemon whose seq starts again at 1.
            self.screen = None
            if self.down:
                self.down = False
                self.changed.emit()
        else:
            self._down_timer.start()

    def feed_screen(self, payload: bytes | str) -> bool:
        """A text frame from the daemon; True when it changed the screen."""
        try:
            screen = decode(StationScreen, payload)
        except DecodeError as e:
            BAD_MESSAGES.labels(source="screen", reason=e.reason).inc()
            log.warning("station.bad_screen error=%s", e)
            return False
        if self.station_id is not None and screen.station_id != self.station_id:
            BAD_MESSAGES.labels(source="screen", reason="wrong_station").inc()
            log.warning("station.wrong_station want=%s got=%s", self.station_id, screen.station_id)
            return False
        if self.screen is not None and screen.seq <= self.screen.seq:
            STALE_MESSAGES.labels(kind="screen").inc()
            log.info("station.stale_screen seq=%d shown=%d", screen.seq, self.screen.seq)
            return False
        self.screen = screen
        if screen.kind == "idle":
            self._result_timer.stop()
        else:
            self._result_timer.start()
        log.info("station.screen kind=%s seq=%d", screen.kind, screen.seq)
        self.changed.emit()
        return True

    def feed_map(self, payload: bytes) -> bool:
        """A payload from `directory/map`; True when a newer map was taken."""
        try:
            return self._accept_map(payload, from_cache=False)
        except DecodeError as e:
            BAD_MESSAGES.labels(source="map", reason=e.reason).inc()
            log.warning("station.bad_map error=%s", e)
            return False

    def _accept_map(self, payload: bytes, *, from_cache: bool) -> bool:
        doc = decode(DirectoryMap, payload)
        if doc.version <= self._map_version:
            if doc.version < self._map_version:
                STALE_MESSAGES.labels(kind="map").inc()
            return False
        self._map_version = doc.version
        self.map = doc.map
        if self.cache is not None and not from_cache:
            self.cache.save("map", payload, self._wall())
        self.changed.emit()
        return True

    def _result_expired(self) -> None:
        # The daemon should have sent `idle`; never leave a patient's number up for good.
        log.info("station.result_timeout seq=%s", self.screen.seq if self.screen else None)
        if self.screen is not None:
            self.screen = self.screen.model_copy(update={"kind": "idle"})
            self.changed.emit()

    def _went_down(self) -> None:
        if not self.feed_up:
            log.warning("station.feed_down")
            self.down = True
            self.changed.emit()

    # --- formatting for the view --------------------------------------------------------------

    def _bi(self, t: LocalizedText | None) -> Bilingual | None:
        return text.bilingual(t, self.language) if t is not None else None

    @property
    def page(self) -> str:
        """idle, result, error or station_down."""
        if self.down:
            return STATION_DOWN
        if self.screen is None or self.screen.kind == "idle":
            return "idle"
        if self.screen.kind in RESULT_KINDS:
            return "result"
        return "error"

    @property
    def kind(self) -> str:
        """The daemon's screen kind (or station_down)."""
        if self.down:
            return STATION_DOWN
        return self.screen.kind if self.screen else "idle"

    def message(self) -> Bilingual:
        """The main sentence."""
        if self.down:
            return text.bilingual(text.STATION_DOWN, self.language)
        if self.screen is None or self.screen.kind == "idle":
            return text.bilingual(text.TAP_CARD, self.language)
        return text.bilingual(self.screen.message, self.language)

    def detail(self) -> Bilingual | None:
        """A second sentence for the idle and station-down pages."""
        if self.down:
            return self._bi(text.STATION_DOWN_DETAIL)
        if self.page == "idle":
            return self._bi(text.TAP_HINT)
        return None

    def ticket_text(self) -> str | None:
        """The patient's number."""
        s = self.screen
        return str(s.ticket_number) if s and s.ticket_number else None

    def position(self) -> Bilingual | None:
        """Place in line (marked as an estimate when computed offline)."""
        s = self.screen
        if s is None:
            return None
        return self._bi(text.position_text(s.position, s.position_is_estimate))

    def wait(self) -> Bilingual | None:
        """Expected wait in minutes."""
        s = self.screen
        return self._bi(text.minutes_text(s.estimated_wait_s)) if s else None

    def standing(self) -> Bilingual | None:
        """Place in line and expected wait on one line: '3번째 · 약 15분'."""
        s = self.screen
        if s is None:
            return None
        parts = [
            t
            for t in (
                text.position_text(s.position, s.position_is_estimate),
                text.minutes_text(s.estimated_wait_s),
            )
            if t is not None
        ]
        if not parts:
            return None
        lang = self.language
        return Bilingual(
            " · ".join(p.ko for p in parts),
            "" if lang == "ko" else " · ".join(p.get(lang) for p in parts),
        )

    def room(self) -> Bilingual | None:
        """Where to go: floor and room name."""
        s = self.screen
        if s is None or s.room_name is None:
            return None
        return self._bi(text.floor_room_text(s.room_name, s.floor_label))

    def steps(self) -> list[Bilingual]:
        """Two to four short directions."""
        s = self.screen
        if s is None or s.route is None:
            return []
        return [text.bilingual(t, self.language) for t in s.route.steps[:MAX_STEPS]]

    def prep_notes(self) -> Bilingual | None:
        """Exam preparation notes (fasting ...)."""
        s = self.screen
        return self._bi(s.prep_notes) if s else None

    def phone_url(self) -> str | None:
        """Target of the QR code."""
        s = self.screen
        return s.phone_url if s else None

    def sketch(self) -> list[FloorSketch]:
        """The floors to draw with the route (empty without map or route)."""
        s = self.screen
        if s is None or s.route is None or self.map is None:
            return []
        return route_sketch(self.map, s.route)

    def offline_text(self) -> Bilingual | None:
        """The station's own offline note: central not heard lately."""
        s = self.screen
        if s is None or not s.offline:
            return None
        return self._bi(text.last_updated_text(s.last_central_contact))
