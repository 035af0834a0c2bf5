"""One database, SQLite or PostgreSQL, opened the same way.

SQLite: WAL, `synchronous=FULL` (an acked event survives a power cut), a busy timeout, and
every write transaction starts with `BEGIN IMMEDIATE` so two writers queue for the lock up
front instead of deadlocking on a lock upgrade. Reads use a plain deferred `BEGIN` and never
block writers (WAL).

PostgreSQL: READ COMMITTED; the engine takes row locks (`SELECT ... FOR UPDATE`) on the rooms
it changes, in a fixed order, and retries a transaction the server aborted for a deadlock or
a serialization failure.

On PostgreSQL every statement is a round trip to the server, and on a busy 2-core machine
each one is also a chance to wait for a CPU. So the writes whose result nobody reads (audit
rows, visit and entry updates, version bumps: `defer`) are held back and sent together in
one pipeline (psycopg's pipeline mode) right before the next statement of the transaction,
or together with its COMMIT: a staff call is four round trips instead of twelve. The order
of statements is unchanged (any other statement sends the held-back ones first), so is what
each one sees. A connection is checked with a ping only after it has sat idle in the pool
(`PING_AFTER_IDLE_S`), not before every use; a write transaction that finds its connection
dead before COMMIT is retried on a new one (nothing of it was committed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.sql.base import Executable

from central.store.errors import StorageError

log = logging.getLogger(__name__)
T = TypeVar("T")

_READ_ONLY = "nfch_read_only"
_RETRY_PGCODES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
_DEFERRED = "nfch_deferred"
"""`Connection.info` key: the held-back writes of the transaction under way (PostgreSQL)."""
_SENDING = "nfch_sending_deferred"
_IDLE_SINCE = "nfch_idle_since"

_PIPELINE = psycopg.Pipeline.is_supported()
"""libpq 14 and later (psycopg's binary package bundles one); without, held-back writes are
still sent in order, one round trip each."""

PING_AFTER_IDLE_S = 2.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is used."""


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
                isolation_level="READ COMMITTED",
            )
            event.listen(self.engine, "checkin", _pg_on_checkin)
            event.listen(self.engine, "checkout", _pg_pinger(self.engine.dialect))
            event.listen(self.engine, "before_execute", _pg_send_deferred_first)
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
        """A write transaction (BEGIN IMMEDIATE on SQLite); commits on success.

        On PostgreSQL the writes held back by `defer` go out with the COMMIT, in one round
        trip. Losing the connection from then on raises `CommitOutcomeUnknown` (the server
        may or may not have committed): never retried."""
        with self._writers, self.engine.connect() as conn:
            trans = conn.begin()
            committing = False
            try:
                yield conn
                committing = True
                if conn.info.get(_DEFERRED):
                    _send_deferred(conn, commit=True)
                trans.commit()
            except DBAPIError as e:
                if committing and e.connection_invalidated:
                    raise CommitOutcomeUnknown(
                        f"the database connection was lost while committing: {e.orig}"
                    ) from e
                raise
            finally:
                trans.close()  # rolls back unless committed
                if not conn.invalidated:
                    conn.info.pop(_DEFERRED, None)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that never takes the SQLite write lock."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(**{_READ_ONLY: True})
            with conn.begin():
                yield conn

    def run_write(self, fn: Callable[[Connection], T], *, attempts: int = 5) -> T:
        """Run `fn` in a write transaction, retrying when PostgreSQL aborts it for a deadlock
        or a serialization failure, or when its connection turns out dead before COMMIT
        (nothing of such an attempt was committed)."""
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
                if e.connection_invalidated and attempt < attempts:
                    # Lost before COMMIT was sent (see `write`): nothing was committed.
                    log.warning("db_retry connection_lost attempt=%d error=%s", attempt, e.orig)
                    continue
                if isinstance(e, OperationalError) and "locked" in str(e.orig):
                    raise StorageError(f"database is locked: {e.orig}") from e
                raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def defer(conn: Connection, statement: Executable, params: Any) -> None:
    """Execute a write whose result is never read (no RETURNING, no rowcount; an INSERT must
    be `.inline()`, or SQLAlchemy adds a RETURNING of its key).

    SQLite: now. PostgreSQL: held back until the transaction's next statement or its COMMIT
    (see `Database.write`), then sent with the others held back in one pipeline. An error in
    one of them (a constraint) is raised there, as the same SQLAlchemy exception."""
    if conn.dialect.name != "postgresql":
        conn.execute(statement, params)
        return
    conn.info.setdefault(_DEFERRED, []).append((statement, params))


def send_deferred(conn: Connection) -> None:
    """Send the writes held back so far now (PostgreSQL; nothing to do on SQLite): where an
    error of theirs must be raised, say inside a savepoint, not at the next statement."""
    if conn.info.get(_DEFERRED):
        _send_deferred(conn, commit=False)


class CommitOutcomeUnknown(StorageError):
    """The connection was lost while committing: the transaction may or may not be in."""


def _send_deferred(conn: Connection, *, commit: bool) -> None:
    """Send the held-back writes (and COMMIT) in one pipeline: one round trip."""
    pending = conn.info.pop(_DEFERRED, None)
    if not pending:
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    conn.info[_SENDING] = True
    try:
        with driver.pipeline() if _PIPELINE else nullcontext():
            for statement, params in pending:
                conn.execute(statement, params)
            if commit and _PIPELINE:
                # SQLAlchemy's own commit, right after, finds the transaction already closed
                # (psycopg does nothing for an idle connection).
                driver.execute("COMMIT")
    except psycopg.Error as e:
        lost = conn.dialect.is_disconnect(cast(Any, e), driver, None)
        if lost:
            conn.invalidate(e)
        raise DBAPIError.instance(
            "; ".join(str(s) for s, _p in pending[:3]),
            None,
            e,
            psycopg.Error,
            connection_invalidated=lost,
        ) from e
    finally:
        conn.info.pop(_SENDING, None)


def _pg_send_deferred_first(conn: Connection, *_args: Any) -> None:
    """`before_execute`: a statement goes out only after the writes held back before it."""
    if conn.info.get(_DEFERRED) and not conn.info.get(_SENDING):
        _send_deferred(conn, commit=False)


def _pg_on_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _pg_pinger(dialect: Any) -> Callable[[Any, Any, Any], None]:
    def on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        """Ping a connection that sat idle (the server may have restarted since); one in
        constant use was proven alive a moment ago, and a write found dead is retried."""
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            alive = dialect.do_ping(dbapi_conn)
        except Exception as e:
            raise DisconnectionError(f"idle connection failed its ping: {e}") from e
        if not alive:
            raise DisconnectionError("idle connection failed its ping")

    return on_checkout


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
