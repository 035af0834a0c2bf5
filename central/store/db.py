"""One database, SQLite or PostgreSQL, opened the same way.

SQLite: WAL, `synchronous=FULL` (an acked event survives a power cut), a busy timeout, and
every write transaction starts with `BEGIN IMMEDIATE` so two writers queue for the lock up
front instead of deadlocking on a lock upgrade. Reads use a plain deferred `BEGIN` and never
block writers (WAL).

PostgreSQL: READ COMMITTED; the engine takes row locks (`SELECT ... FOR UPDATE`) on the rooms
it changes, in a fixed order, and retries a transaction the server aborted for a deadlock or
a serialization failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from central.store.errors import StorageError

log = logging.getLogger(__name__)
T = TypeVar("T")

_READ_ONLY = "nfch_read_only"
_RETRY_PGCODES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def normalize_url(url: str) -> str:
    """Accept `postgresql://` (psycopg 3 is the driver we ship) and plain paths for SQLite."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{Path(url)}"
    return url


class Database:
    """A SQLAlchemy engine with the transaction discipline the queue engine relies on."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 8) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        # SQLite has one writer at a time. This process's writers (the bridge's applier, staff
        # requests, lease top-ups) queue here and are woken the moment the writer before them
        # commits; left to SQLite's busy handler they would sleep in steps of up to 100 ms and
        # could be passed over again and again by a busy applier (a lease top-up starved for
        # seconds, holding up the publisher's round, in bench central-ingest). Other
        # processes still meet `busy_timeout`.
        self._writers: AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else nullcontext()
        )
        if self.dialect == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise StorageError("central needs an SQLite file, not an in-memory database")
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: SAEngine = create_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                isolation_level="READ COMMITTED",
            )
        else:
            raise StorageError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to `revision` with the packaged Alembic migrations."""
        from central.store.migrate import upgrade

        upgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        """The schema revision the database is at (None when never migrated)."""
        from central.store.migrate import current_revision

        return current_revision(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
        with self._writers, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that never takes the SQLite write lock."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(**{_READ_ONLY: True})
            with conn.begin():
                yield conn

    def run_write(self, fn: Callable[[Connection], T], *, attempts: int = 5) -> T:
        """Run `fn` in a write transaction, retrying when PostgreSQL aborts it for a deadlock
        or a serialization failure (nothing of an aborted attempt was committed)."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as conn:
                    return fn(conn)
            except DBAPIError as e:
                code = getattr(e.orig, "sqlstate", None)
                if code in _RETRY_PGCODES and attempt < attempts:
                    log.warning("db_retry code=%s attempt=%d", code, attempt)
                    time.sleep(0.005 * attempt)
                    continue
                if isinstance(e, OperationalError) and "locked" in str(e.orig):
                    raise StorageError(f"database is locked: {e.orig}") from e
                raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred-only).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
