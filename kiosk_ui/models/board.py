"""Room board state: the room's queue snapshot, version guard, offline state, formatting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PyQt6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    pyqtSignal,
)

from kiosk_ui.metrics import BAD_MESSAGES, STALE_MESSAGES
from kiosk_ui.models import text
from kiosk_ui.models.cache import DiskCache
from kiosk_ui.models.text import Bilingual
from protocol.base import LocalizedText
from protocol.codec import decode
from protocol.errors import DecodeError
from protocol.messages import CallAnnouncement, DirectoryRooms, QueueEntry, RoomQueueSnapshot

log = logging.getLogger("nfch.kiosk.board")

Monotonic = Callable[[], float]
WallClock = Callable[[], datetime]

TICKET_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 2


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Calling:
    """What the 'now calling' panel shows."""

    ticket: str
    masked_name: str
    desk: Bilingual | None


class WaitingListModel(QAbstractListModel):
    """The next patients in line: ticket number and masked name, nothing else."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[int, str]] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return len(self._rows)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        ticket, name = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{ticket}  {name}"
        if role == TICKET_ROLE:
            return str(ticket)
        if role == NAME_ROLE:
            return name
        return None

    def set_entries(self, entries: list[QueueEntry]) -> None:
        """Replace the rows (only when they changed, so views do not redraw for nothing)."""
        rows = [(e.ticket_number, e.masked_name) for e in entries]
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> list[tuple[int, str]]:
        """The rows as (ticket number, masked name)."""
        return list(self._rows)


class BoardModel(QObject):
    """Everything a room board shows, fed with raw MQTT payloads; testable with no widget."""

    changed = pyqtSignal()
    offlineChanged = pyqtSignal(bool)

    def __init__(
        self,
        room_id: str,
        *,
        language: str = "en",
        max_waiting: int = 6,
        offline_after_s: float = 90.0,
        cache: DiskCache | None = None,
        monotonic: Monotonic = time.monotonic,
        wall_clock: WallClock = _utc_now,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.room_id = room_id
        self.language = language
        self.max_waiting = max_waiting
        self.offline_after_s = offline_after_s
        self.cache = cache
        self._monotonic = monotonic
        self._wall = wall_clock
        self.snapshot: RoomQueueSnapshot | None = None
        self.room_name: LocalizedText | None = None
        self._rooms_version = 0
        self.last_arrival: datetime | None = None
        # Freshness counts from start-up, so a rebooted kiosk gets a grace period to connect
        # before it calls the cached snapshot stale.
        self._fresh_at = monotonic()
        self.offline = False
        self.waiting = WaitingListModel(self)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.check_offline)

    # --- input ------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the cached snapshot and room names, and start the offline watch."""
        if self.cache is not None:
            for name, feed in (
                (f"room-{self.room_id}", self._accept_snapshot),
                ("rooms", self._accept_rooms),
            ):
                entry = self.cache.load(name)
                if entry is not None:
                    try:
                        feed(entry[0], entry[1], from_cache=True)
                    except DecodeError as e:
                        log.warning("board.cache_ignored entry=%s error=%s", name, e)
        self._timer.start()

    def feed_snapshot(self, payload: bytes) -> bool:
        """A payload from `room/{id}/queue`; True when it changed what is shown."""
        try:
            return self._accept_snapshot(payload, self._wall(), from_cache=False)
        except DecodeError as e:
            BAD_MESSAGES.labels(source="queue", reason=e.reason).inc()
            log.warning("board.bad_snapshot room=%s error=%s", self.room_id, e)
            return False

    def feed_rooms(self, payload: bytes) -> bool:
        """A payload from `directory/rooms`; True when the room's name changed."""
        try:
            return self._accept_rooms(payload, self._wall(), from_cache=False)
        except DecodeError as e:
            BAD_MESSAGES.labels(source="rooms", reason=e.reason).inc()
            log.warning("board.bad_rooms error=%s", e)
            return False

    def _accept_snapshot(self, payload: bytes, arrived: datetime, *, from_cache: bool) -> bool:
        snap = decode(RoomQueueSnapshot, payload)
        if snap.room_id != self.room_id:
            raise DecodeError(
                "wrong_room", "room_id", f"snapshot of {snap.room_id} on {self.room_id}'s topic"
            )
        current = self.snapshot.version if self.snapshot else 0
        if snap.version < current:
            STALE_MESSAGES.labels(kind="snapshot").inc()
            log.info(
                "board.stale_snapshot room=%s version=%d shown=%d",
                self.room_id,
                snap.version,
                current,
            )
            return False
        if not from_cache:
            # Arrival, not central's generated_at, is what says the link is alive: central's
            # clock may be off and a retained snapshot may be hours old yet still current.
            self._fresh_at = self._monotonic()
            self.last_arrival = arrived
            self._set_offline(False)
        elif self.last_arrival is None:
            self.last_arrival = arrived
        if snap.version == current:
            return False
        self.snapshot = snap
        self.waiting.set_entries(snap.waiting[: self.max_waiting])
        if self.cache is not None and not from_cache:
            self.cache.save(f"room-{self.room_id}", payload, arrived)
        self.changed.emit()
        return True

    def _accept_rooms(self, payload: bytes, arrived: datetime, *, from_cache: bool) -> bool:
        doc = decode(DirectoryRooms, payload)
        if doc.version < self._rooms_version:
            STALE_MESSAGES.labels(kind="rooms").inc()
            return False
        self._rooms_version = doc.version
        if self.cache is not None and not from_cache:
            self.cache.save("rooms", payload, arrived)
        name = next((r.name for r in doc.rooms if r.room_id == self.room_id), None)
        if name == self.room_name:
            return False
        self.room_name = name
        self.changed.emit()
        return True

    # --- offline ----------------------------------------------------------------------------

    def check_offline(self) -> None:
        """Offline when no snapshot has arrived for `offline_after_s` (called every second)."""
        stale = self._monotonic() - self._fresh_at > self.offline_after_s
        self._set_offline(stale)

    def _set_offline(self, offline: bool) -> None:
        if offline != self.offline:
            self.offline = offline
            log.warning("board.offline room=%s offline=%s", self.room_id, offline)
            self.offlineChanged.emit(offline)

    # --- formatting for the view --------------------------------------------------------------

    def _bi(self, t: LocalizedText) -> Bilingual:
        return text.bilingual(t, self.language)

    def title(self) -> Bilingual:
        """The room's name (its id until the directory has arrived)."""
        if self.room_name is None:
            return Bilingual(self.room_id, "")
        return self._bi(self.room_name)

    def calling(self, announced: CallAnnouncement | None = None) -> Calling | None:
        """The call to show: the snapshot's most recent one, or `announced` if that is newer.

        An announcement often arrives before the snapshot that lists it; both carry central's
        clock (`called_at`, `generated_at`), so they compare without trusting ours.
        """
        if (
            announced is not None
            and announced.room_id == self.room_id
            and (self.snapshot is None or announced.called_at > self.snapshot.generated_at)
        ):
            return Calling(
                str(announced.ticket_number), announced.masked_name, self._desk(announced.desk)
            )
        if self.snapshot is None or not self.snapshot.now_calling:
            return None
        # The most recent call is the one to read from afar; central lists them oldest first.
        e = self.snapshot.now_calling[-1]
        return Calling(str(e.ticket_number), e.masked_name, self._desk(e.desk))

    def _desk(self, desk: str | None) -> Bilingual | None:
        return self._bi(text.desk_text(desk)) if desk else None

    def status_line(self) -> Bilingual | None:
        """Why no one is called: closed, or nobody yet."""
        if self.snapshot is None:
            return self._bi(text.NO_DATA)
        if not self.snapshot.open:
            return self._bi(text.ROOM_CLOSED)
        if not self.snapshot.now_calling:
            return self._bi(text.NOBODY_CALLED)
        return None

    def _labelled(self, label: LocalizedText, value: LocalizedText | None) -> Bilingual | None:
        if value is None:
            return None
        lang = self.language
        return Bilingual(
            f"{label.ko} {value.ko}",
            "" if lang == "ko" else f"{label.get(lang)} {value.get(lang)}",
        )

    def wait_text(self) -> Bilingual | None:
        """'예상 대기 약 15분 / Estimated wait about 15 min' for someone checking in now."""
        if self.snapshot is None:
            return None
        return self._labelled(text.EST_WAIT, text.minutes_text(self.snapshot.estimated_wait_s))

    def served_text(self) -> Bilingual | None:
        """'오늘 진료 37명 / Seen today 37'."""
        if self.snapshot is None:
            return None
        return self._labelled(text.SERVED_TODAY, text.count_text(self.snapshot.served_today))

    def offline_text(self) -> Bilingual:
        """Banner text: offline, and when the shown queue last arrived."""
        updated = text.last_updated_text(self.last_arrival)
        return Bilingual(
            f"{text.OFFLINE.ko} · {updated.ko}",
            ""
            if self.language == "ko"
            else f"{text.OFFLINE.get(self.language)} · {updated.get(self.language)}",
        )
