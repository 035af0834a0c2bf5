"""A disk cache of the last documents seen, so a rebooted kiosk is not blank while offline.

Each entry is one small JSON file written atomically (temp file + rename): a power cut leaves
the old entry or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

from kiosk_ui.metrics import CACHE_ERRORS
from protocol.ids import is_valid_id

log = logging.getLogger("nfch.kiosk.cache")


class DiskCache:
    """Last payload of each named document, with the local time it arrived."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not is_valid_id(name):
            raise ValueError(f"cache entry name {name!r} is not a valid id")
        return self.directory / f"{name}.json"

    def save(self, name: str, payload: bytes, arrived_at: datetime) -> None:
        """Store `payload` as entry `name`; a failure is logged and counted, never raised."""
        path = self._path(name)
        doc = {"arrived_at": arrived_at.isoformat(), "payload": payload.decode("utf-8")}
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except (OSError, UnicodeDecodeError) as e:
            CACHE_ERRORS.labels(op="write").inc()
            log.warning("cache.write_failed path=%s error=%s", path, e)

    def load(self, name: str) -> tuple[bytes, datetime] | None:
        """The stored payload and its arrival time, or None when absent or unreadable."""
        path = self._path(name)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            payload = doc["payload"].encode("utf-8")
            arrived = datetime.fromisoformat(doc["arrived_at"])
            if arrived.tzinfo is None:
                raise ValueError("arrived_at has no time zone")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            CACHE_ERRORS.labels(op="read").inc()
            log.warning("cache.read_failed path=%s error=%s", path, e)
            return None
        return payload, arrived
