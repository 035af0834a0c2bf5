"""The retained wayfinding documents: `directory/map` and `directory/routes`.

Stations and kiosks guide patients offline from these two retained documents. The map file
is read at startup and checked again every `bridge.map_check_s`; the routes are rebuilt when
the map changes or when the set of closures in force changes (a closure's `until` passing
reopens a node). Versions live in `directory_versions` (kinds `map` and `routes`) next to
the digest they were built from (`site_state`), so a restart with the same map keeps the same
versions, and a changed map gets a higher one even after a restart. Several central workers
agree: the versions are bumped in one transaction, only when the stored digest differs.

Closures set through the API (`central.wayfinding.closures`) are merged into the map at each
check; the API calls `request_check(db)` after a change so this process republishes at once
(other workers on the same database follow at their next check).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, select, update

from central.clock import Clock
from central.config import SAMPLE_MAP
from central.engine.leases import insert_ignore
from central.metrics import BAD_INPUT
from central.store.db import Database
from central.store.schema import directory_versions, site_state
from central.wayfinding.closures import merged, stored_closures
from central.wayfinding.errors import MapFileError
from central.wayfinding.installed import installed_map_path
from central.wayfinding.loader import load_map
from central.wayfinding.publish import build_directory_documents
from central.wayfinding.routing import closed_nodes
from protocol.codec import encode
from protocol.hospital_map import HospitalMap

log = logging.getLogger("central.directory")

_DIGEST_KEYS = {"map": "map_digest", "routes": "routes_digest"}

# The running publishers, so the API can wake the one serving its database.
_PUBLISHERS: weakref.WeakSet[WayfindingPublisher] = weakref.WeakSet()


def publisher_for(db: Database) -> WayfindingPublisher | None:
    """The wayfinding publisher of this process working on `db`, if one runs."""
    return next((p for p in _PUBLISHERS if p.db is db), None)


def request_check(db: Database) -> bool:
    """Wake the publisher working on `db` to check now (after a closure changed); False
    when none runs in this process (the next periodic check of each worker picks it up)."""
    p = publisher_for(db)
    if p is None:
        return False
    p.wake()
    return True


@dataclass(frozen=True, slots=True)
class WayfindingDocuments:
    """The encoded documents and the versions they carry."""

    map_version: int
    routes_version: int
    map_payload: bytes
    routes_payload: bytes


def stored_versions(db: Database, digests: dict[str, str], now: datetime) -> dict[str, int]:
    """The version of each kind (`map`, `routes`) for `digests`: unchanged when the stored
    digest matches, else bumped by one and the new digest stored (one transaction)."""

    def fn(conn: Connection) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind, digest in digests.items():
            key = _DIGEST_KEYS[kind]
            insert_ignore(conn, directory_versions, {"kind": kind, "version": 1, "changed_at": now})
            q = select(directory_versions.c.version).where(directory_versions.c.kind == kind)
            if not db.is_sqlite:
                q = q.with_for_update()
            version = int(conn.execute(q).scalar_one())
            stored = conn.execute(
                select(site_state.c.value).where(site_state.c.key == key)
            ).scalar()
            if stored == digest:
                out[kind] = version
                continue
            if stored is None:
                insert_ignore(conn, site_state, {"key": key, "value": digest})
            else:
                conn.execute(update(site_state).where(site_state.c.key == key).values(value=digest))
            if stored is not None:  # the first build keeps the engine's initial version 1
                version += 1
                conn.execute(
                    update(directory_versions)
                    .where(directory_versions.c.kind == kind)
                    .values(version=version, changed_at=now)
                )
            out[kind] = version
        return out

    return db.run_write(fn)


def routes_digest(map_digest: str, closed: frozenset[str]) -> str:
    """What the routes depend on: the map and the nodes closed now."""
    text = map_digest + "|" + ",".join(sorted(closed))
    return hashlib.sha256(text.encode()).hexdigest()


class WayfindingPublisher:
    """Builds the two documents and hands them to the change publisher when they change."""

    def __init__(
        self,
        db: Database,
        map_path: Path,
        clock: Clock,
        on_documents: Callable[[WayfindingDocuments], None],
        *,
        check_s: float = 30.0,
    ) -> None:
        self.db = db
        self.map_path = map_path
        self.clock = clock
        self._on_documents = on_documents
        self.check_s = check_s
        self._raw: bytes | None = None
        self._map: HospitalMap | None = None
        self._map_digest = ""
        self._routes_digest = ""
        self.documents: WayfindingDocuments | None = None
        self._wake: asyncio.Event | None = None
        self.serving = map_path  # the file last read (`current_path`)
        _PUBLISHERS.add(self)

    @property
    def map(self) -> HospitalMap | None:
        """The map file last read (without the API's closures), None before the first check."""
        return self._map

    def current_path(self) -> Path:
        """The map file to serve: the configured one, or (when the config names none, so the
        sample map was given) the map installed by `central map import`, if any."""
        if self.map_path == SAMPLE_MAP:
            return installed_map_path(self.db) or self.map_path
        return self.map_path

    def wake(self) -> None:
        """Check again now rather than at the next `check_s` (call from the event loop)."""
        if self._wake is not None:
            self._wake.set()

    def check(self) -> WayfindingDocuments | None:
        """Read the map file; rebuild when it or the closures in force changed. Returns the new
        documents, or None when nothing changed. Raises MapFileError for a bad file."""
        path = self.serving = self.current_path()
        raw = path.read_bytes()
        if raw != self._raw:
            m = load_map(path)
            self._raw, self._map = raw, m
            self._map_digest = hashlib.sha256(raw).hexdigest()
        assert self._map is not None
        now = self.clock.now()
        extra = stored_closures(self.db)
        m = merged(self._map, extra)
        # The published map carries the closures, so they are part of its digest too.
        m_digest = self._map_digest
        if extra:
            listed = ",".join(c.model_dump_json() for c in m.closures)
            m_digest = hashlib.sha256((m_digest + "|" + listed).encode()).hexdigest()
        r_digest = routes_digest(m_digest, closed_nodes(m, now))
        if self.documents is not None and r_digest == self._routes_digest:
            return None
        versions = stored_versions(self.db, {"map": m_digest, "routes": r_digest}, now)
        dmap, droutes = build_directory_documents(m, versions["routes"], versions["map"], now)
        self._routes_digest = r_digest
        self.documents = WayfindingDocuments(
            versions["map"], versions["routes"], encode(dmap), encode(droutes)
        )
        log.info(
            "directory.wayfinding_built map_version=%d routes_version=%d routes=%d",
            versions["map"],
            versions["routes"],
            len(droutes.routes),
        )
        return self.documents

    async def run(self) -> None:
        """Check now and then every `check_s` (or when woken); a bad map file keeps the last
        good documents."""
        self._wake = asyncio.Event()
        while True:
            self._wake.clear()
            try:
                docs = await asyncio.to_thread(self.check)
            except MapFileError as e:
                BAD_INPUT.labels(source="map_file", reason="invalid").inc()
                log.error("directory.map_invalid path=%s problems=%s", self.serving, e)
            except OSError as e:
                BAD_INPUT.labels(source="map_file", reason="unreadable").inc()
                log.error("directory.map_unreadable path=%s error=%s", self.serving, e)
            except Exception:
                log.exception("directory.wayfinding_failed path=%s", self.serving)
            else:
                if docs is not None:
                    self._on_documents(docs)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.check_s)
