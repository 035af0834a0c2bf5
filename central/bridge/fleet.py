"""The fleet view: what each station last said about itself on `station/{id}/status`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from central.metrics import STATIONS_ONLINE
from protocol.messages import StationStatus


@dataclass(frozen=True, slots=True)
class FleetEntry:
    """A station's last status and when central received it (central's clock)."""

    status: StationStatus
    last_seen: datetime


class Fleet:
    """Latest status per station; only ever replaced by a status sent later by the station."""

    def __init__(self) -> None:
        self._entries: dict[str, FleetEntry] = {}

    def update(self, status: StationStatus, received_at: datetime) -> bool:
        """Record a status; False (ignored) when it is older than the one we have."""
        old = self._entries.get(status.station_id)
        if old is not None and status.sent_at < old.status.sent_at:
            return False
        self._entries[status.station_id] = FleetEntry(status, received_at)
        STATIONS_ONLINE.set(sum(1 for e in self._entries.values() if e.status.online))
        return True

    def get(self, station_id: str) -> FleetEntry | None:
        return self._entries.get(station_id)

    def all(self) -> dict[str, FleetEntry]:
        """Every station heard from, by id."""
        return dict(self._entries)
