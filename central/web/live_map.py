"""The hospital map as it is now, for the phone page's route drawing and the help assistant.

The map file is the configured one (`site.map_file` / `[web] map_file`), or — when the
config names none and the packaged sample map was given — the map installed by
`nfc-hospital central map import`, looked up in the database like the directory task does.
Closures set through the API (`/api/v1/map/closures`) are merged in. Both are looked at again
at most every `check_s` seconds: the file is re-read only when its path, size or mtime
changed; a file that no longer loads keeps the last good map (logged once per change).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from central.config import SAMPLE_MAP
from central.store.db import Database
from central.wayfinding.closures import merged, stored_closures
from central.wayfinding.installed import installed_map_path
from central.wayfinding.loader import load_map
from protocol.hospital_map import HospitalMap

log = logging.getLogger("central.web.map")


class LiveMap:
    """The current map with the API's closures; thread-safe."""

    def __init__(
        self,
        db: Database,
        configured: Path,
        *,
        check_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.configured = configured
        self._follow_import = configured.resolve() == SAMPLE_MAP.resolve()
        self.check_s = check_s
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._file_key: tuple[str, int, int] | None = None
        self._file_map: HospitalMap | None = None
        self._bad_key: tuple[str, int, int] | None = None
        self._map: HospitalMap | None = None
        self.revision = ""
        """Changes whenever the map served changes (file or closures)."""
        self.loads = 0
        """How many times a map file was read (tests)."""

    def path(self) -> Path:
        """The file to serve: the configured map, or the imported one instead of the sample."""
        if self._follow_import:
            return installed_map_path(self.db) or self.configured
        return self.configured

    def current(self) -> HospitalMap | None:
        """The map now (None when no map file ever loaded)."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[HospitalMap | None, str]:
        """The map now and its revision (for caches of things drawn on it)."""
        now = self._clock()
        with self._lock:
            if self._checked_at is None or now - self._checked_at >= self.check_s:
                self._check()
                self._checked_at = now
            return self._map, self.revision

    def check_now(self) -> None:
        """Look again at the next `current()`, whatever `check_s` says."""
        with self._lock:
            self._checked_at = None

    def _check(self) -> None:
        try:
            path = self.path()
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            if key not in (self._file_key, self._bad_key):
                try:
                    m = load_map(path)
                except Exception as e:
                    # Keep serving the last good map (logged once per bad version of the file;
                    # the directory task reports it too).
                    self._bad_key = key
                    log.warning("web.map_invalid path=%s error=%s", path, e)
                else:
                    self._file_key, self._file_map = key, m
                    self.loads += 1
                    log.info("web.map_loaded path=%s nodes=%d", path, len(m.nodes))
            extra = stored_closures(self.db)
        except Exception as e:  # the database or the file system is away: try again later
            log.warning("web.map_check_failed error=%s", e)
            return
        if self._file_map is None:
            return
        closures_key = hashlib.sha256(
            "|".join(c.model_dump_json() for c in extra).encode()
        ).hexdigest()
        revision = f"{self._file_key}|{closures_key}"
        if revision != self.revision:
            self._map = merged(self._file_map, extra)
            self.revision = revision
