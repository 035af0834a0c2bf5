"""`StationStore`: every read and write of the station database, in short transactions.

WAL with `synchronous=FULL`: a committed tap survives a power cut, and readers (the sender,
`/metrics`) never block the tap path. Only card hashes and masked names are ever written here.
A file found corrupt at open (not a database, or `PRAGMA quick_check` fails) is moved aside as
`<name>.corrupt-<UTC time>`, its unsent outbox salvaged read-only, and a fresh file started.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from edge.errors import CorruptDatabaseError, DiskFullError, SchemaTooNewError, StoreError
from edge.store._lean import import_sqlite_utils_lean
from edge.store.migrations import MIGRATIONS, SCHEMA_VERSION
from protocol.messages import Lease

log = logging.getLogger(__name__)

# Meta key set after a recovery that lost the station's seq counter: see Station.apply_ack.
SEQ_UNVERIFIED = "seq_unverified"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event waiting in (or settled in) the outbox."""

    station_seq: int
    event_id: str
    kind: str
    payload: str
    created_at: float


@dataclass(frozen=True, slots=True)
class LeaseBlockRow:
    """A leased block of ticket numbers and the next number this station will issue from it."""

    lease_id: str
    room_id: str
    service_day: date
    first: int
    last: int
    next_number: int

    @property
    def remaining(self) -> int:
        return max(0, self.last - self.next_number + 1)


@dataclass(frozen=True, slots=True)
class LocalCheckIn:
    """A check-in decided here that central's room snapshot does not show yet."""

    station_seq: int
    visit_id: str
    card_hash: str
    room_id: str
    step_index: int
    service_day: date
    ticket_number: int | None
    priority: int
    hlc: str


@dataclass(frozen=True, slots=True)
class TapWrite:
    """Everything one tap changes, written in one transaction (or not at all)."""

    events: Sequence[OutboxRow]
    last_hlc: str
    next_seq: int
    number_used: tuple[str, int] | None = None  # (lease_id, new next_number)
    local_checkin: LocalCheckIn | None = None


def _is_full(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "full" in str(error).lower()


def _is_corrupt(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


CACHE_KB = 512


def _open(path: Path, *, move_corrupt: bool) -> sqlite3.Connection:
    """Connect, set WAL + FULL sync, and run `PRAGMA quick_check`.

    Raises CorruptDatabaseError for a damaged file (moved aside first when `move_corrupt`:
    its `moved_to` says where), StoreError for anything else (a file that cannot be opened
    for other reasons is not moved: it may be fine).
    """
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a tap is one transaction.
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the station database: {e}") from e
    reason: str | None = None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        # 512 KB of page cache rather than SQLite's 2 MB: a tap reads a few pages of the
        # cards and outbox b-trees, the rest comes from the OS page cache (not our RSS).
        conn.execute(f"PRAGMA cache_size=-{CACHE_KB:d}")
        problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            reason = f"quick_check: {'; '.join(problems)}"
    except sqlite3.Error as e:
        if not _is_corrupt(e):
            conn.close()
            raise StoreError(f"{path}: cannot open the station database: {e}") from e
        reason = str(e)
    if reason is None:
        return conn
    # Moved while still open: closing the last connection deletes the -wal and -shm it finds
    # under the database's name, and the WAL may hold the newest unsent events.
    moved_to = _move_aside(path) if move_corrupt else None
    conn.close()
    error = CorruptDatabaseError(f"{path}: the station database is corrupt: {reason}")
    error.moved_to = moved_to
    raise error


def _move_aside(path: Path) -> Path:
    """Rename the database and its -wal/-shm to `<name>.corrupt-<UTC timestamp>[-wal|-shm]`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    # The -wal goes first: a stale WAL next to a fresh database would be replayed into it.
    for suffix in ("-wal", "-shm", ""):
        src = path.with_name(path.name + suffix)
        if src.exists():
            os.replace(src, aside.with_name(aside.name + suffix))
    return aside


@dataclass
class Salvage:
    """What could still be read from a corrupt database moved aside."""

    outbox: list[OutboxRow] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    blocks: list[tuple[str, str, str, int, int, int]] = field(default_factory=list)
    local: list[tuple[object, ...]] = field(default_factory=list)
    error: str | None = None


_SALVAGED_META = ("next_seq", "last_hlc", "acked_through", "service_day")


def _salvage(aside: Path) -> Salvage:
    """Read the unsent outbox (and the little state that keeps it valid) from `aside`, read-only.

    The outbox is all or nothing; meta, lease blocks and local check-ins are best effort.
    """
    out = Salvage()
    try:
        conn = sqlite3.connect(f"{aside.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        out.error = f"cannot open read-only: {e}"
        return out
    try:
        rows = conn.execute(
            # NOT INDEXED: a table scan does not depend on a (possibly damaged) index.
            "SELECT station_seq, event_id, kind, payload, created_at FROM outbox NOT INDEXED "
            "WHERE acked = 0 ORDER BY station_seq"
        ).fetchall()
        out.outbox = [
            OutboxRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows
        ]
    except (sqlite3.Error, TypeError, ValueError) as e:
        out.error = f"cannot read the outbox: {e}"
        conn.close()
        return out
    try:
        for key, value in conn.execute("SELECT key, value FROM meta").fetchall():
            if key in _SALVAGED_META and value is not None:
                out.meta[str(key)] = str(value)
    except sqlite3.Error as e:
        log.warning("store.salvage_meta_failed path=%s error=%s", aside, e)
    try:
        out.blocks = [
            (str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in conn.execute(
                "SELECT lease_id, room_id, service_day, first, last, next_number FROM lease_blocks"
            ).fetchall()
        ]
    except (sqlite3.Error, TypeError, ValueError) as e:
        log.warning("store.salvage_leases_failed path=%s error=%s", aside, e)
    seqs = {r.station_seq for r in out.outbox}
    try:
        out.local = [
            tuple(r)
            for r in conn.execute(
                "SELECT station_seq, visit_id, card_hash, room_id, step_index, service_day, "
                "ticket_number, priority, hlc FROM local_checkins"
            ).fetchall()
            if r[0] in seqs
        ]
    except sqlite3.Error as e:
        log.warning("store.salvage_local_checkins_failed path=%s error=%s", aside, e)
    conn.close()
    return out


@dataclass(frozen=True, slots=True)
class Recovery:
    """A corrupt database was moved aside at open and a fresh one started."""

    moved_to: Path
    reason: str
    salvaged: int  # unsent outbox events carried over into the fresh database
    salvage_error: str | None  # why the old outbox could not be read; None when it was


class StationStore:
    """The station database. One instance per process; not shared across threads."""

    def __init__(self, path: Path, *, recover_corrupt: bool = True) -> None:
        self.path = path
        self.recovery: Recovery | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        salvage: Salvage | None = None
        try:
            self.conn = _open(path, move_corrupt=recover_corrupt)
        except CorruptDatabaseError as e:
            if e.moved_to is None:
                raise
            # A station that cannot open its database would be restarted by systemd forever:
            # the damaged file is kept for a technician, what can still be read is carried
            # over, and central's retained documents fill the fresh cache again.
            salvage = _salvage(e.moved_to)
            self.recovery = Recovery(
                moved_to=e.moved_to,
                reason=str(e),
                salvaged=len(salvage.outbox),
                salvage_error=salvage.error,
            )
            self.conn = _open(path, move_corrupt=False)
        self.migrate()
        if salvage is not None:
            self._restore(salvage)
            self._log_recovery()

    def _restore(self, salvage: Salvage) -> None:
        """Write what was salvaged into the fresh database, in one transaction.

        Events keep their event_id (central dedups on it) and their seq; if central has seen
        those seqs already, `renumber_unacked` moves them above its watermark on the first ack.
        """
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO outbox(station_seq, event_id, kind, payload, created_at, acked) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (e.station_seq, e.event_id, e.kind, e.payload, e.created_at)
                    for e in salvage.outbox
                ],
            )
            for key, value in salvage.meta.items():
                self._set_meta(key, value)
            # Without lease_version the retained lease applies again, and a block held here
            # keeps its next number: numbers issued before the corruption stay issued.
            self.conn.executemany(
                "INSERT INTO lease_blocks(lease_id, room_id, service_day, first, last, "
                "next_number) VALUES (?, ?, ?, ?, ?, ?)",
                salvage.blocks,
            )
            self.conn.executemany(
                "INSERT INTO local_checkins(station_seq, visit_id, card_hash, room_id, "
                "step_index, service_day, ticket_number, priority, hlc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                salvage.local,
            )
            highest = max((e.station_seq for e in salvage.outbox), default=0)
            stored = salvage.meta.get("next_seq")
            self._set_meta("next_seq", str(max(highest + 1, int(stored) if stored else 1)))
            if stored is None:
                # Central may hold seqs above ours: new events would reuse them and central
                # would take them for its old ones. The first ack tells (see Station.apply_ack).
                self._set_meta(SEQ_UNVERIFIED, "1")

    def _log_recovery(self) -> None:
        r = self.recovery
        assert r is not None
        log.error(
            "store.corrupt_moved_aside path=%s moved_to=%s reason=%s",
            self.path,
            r.moved_to,
            r.reason,
        )
        if r.salvage_error is not None:
            log.error(
                "store.salvage_failed moved_to=%s unsent_events=lost error=%s",
                r.moved_to,
                r.salvage_error,
            )
        else:
            log.warning("store.salvaged moved_to=%s events=%d", r.moved_to, r.salvaged)

    # --- schema -----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        row = self.conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def migrate(self) -> None:
        """Bring the file up to `SCHEMA_VERSION`, one transaction per migration."""
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"{self.path}: database schema v{current} is newer than this daemon's "
                f"v{SCHEMA_VERSION}; install the newer nfc-hospital or move the file away"
            )
        if current == SCHEMA_VERSION:
            return
        # sqlite-utils only for the migrations: not loaded by a daemon whose file is current.
        import_sqlite_utils_lean()
        import sqlite_utils

        db = sqlite_utils.Database(self.conn)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[version - 1](db)
                self.conn.execute(f"PRAGMA user_version={version:d}")
            log.info("store.migrated path=%s from=%d to=%d", self.path, version - 1, version)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; rolls back on any error and maps SQLITE_FULL."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot start a transaction: {e}") from e
        try:
            yield
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            if _is_full(e):
                raise DiskFullError(f"{self.path}: the station disk is full: {e}") from e
            raise StoreError(f"{self.path}: database write failed: {e}") from e
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (SQLITE_FULL during COMMIT).
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection (a checkpoint keeps the WAL file small)."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            log.warning("store.checkpoint_failed path=%s error=%s", self.path, e)
        self.conn.close()

    # --- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete_meta(self, key: str) -> None:
        """Remove one meta value in its own transaction."""
        with self.transaction():
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        """Write one meta value in its own transaction."""
        with self.transaction():
            self._set_meta(key, value)

    def max_seq(self) -> int:
        """Highest station_seq ever written (0 for a new station)."""
        row = self.conn.execute("SELECT MAX(station_seq) FROM outbox").fetchone()
        stored = self.get_meta("next_seq")
        from_meta = int(stored) - 1 if stored else 0
        return max(int(row[0] or 0), from_meta)

    # --- the tap transaction ----------------------------------------------------------------

    def record_tap(self, write: TapWrite) -> None:
        """Write a tap's events and state changes durably, all or nothing."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO outbox(station_seq, event_id, kind, payload, created_at, acked) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (e.station_seq, e.event_id, e.kind, e.payload, e.created_at)
                    for e in write.events
                ],
            )
            self._set_meta("next_seq", str(write.next_seq))
            self._set_meta("last_hlc", write.last_hlc)
            if write.number_used is not None:
                lease_id, next_number = write.number_used
                self.conn.execute(
                    "UPDATE lease_blocks SET next_number = ? WHERE lease_id = ?",
                    (next_number, lease_id),
                )
            c = write.local_checkin
            if c is not None:
                self.conn.execute(
                    "INSERT INTO local_checkins(station_seq, visit_id, card_hash, room_id, "
                    "step_index, service_day, ticket_number, priority, hlc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        c.station_seq,
                        c.visit_id,
                        c.card_hash,
                        c.room_id,
                        c.step_index,
                        c.service_day.isoformat(),
                        c.ticket_number,
                        c.priority,
                        c.hlc,
                    ),
                )

    # --- outbox -----------------------------------------------------------------------------

    def unacked(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Unsettled events with station_seq > after_seq, oldest first."""
        rows = self.conn.execute(
            "SELECT station_seq, event_id, kind, payload, created_at FROM outbox "
            "WHERE acked = 0 AND station_seq > ? ORDER BY station_seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    def settle(self, acked_through: int, rejects: dict[int, str]) -> int:
        """Mark events through `acked_through` acked, store reject reasons; returns rows settled."""
        settled = 0
        with self.transaction():
            for seq, reason in rejects.items():
                cur = self.conn.execute(
                    "UPDATE outbox SET acked = 1, reject_reason = ? "
                    "WHERE station_seq = ? AND acked = 0",
                    (reason, seq),
                )
                settled += cur.rowcount
            cur = self.conn.execute(
                "UPDATE outbox SET acked = 1 WHERE acked = 0 AND station_seq <= ?",
                (acked_through,),
            )
            settled += cur.rowcount
            if rejects:
                self.conn.execute(
                    f"DELETE FROM local_checkins WHERE station_seq IN "  # noqa: S608
                    f"({','.join('?' * len(rejects))})",
                    list(rejects),
                )
            stored = self.get_meta("acked_through")
            if stored is None or int(stored) < acked_through:
                self._set_meta("acked_through", str(acked_through))
        return settled

    def renumber_unacked(self, central_through: int, local_acked: int) -> int:
        """Move unacked events above `central_through` (central knows those seqs from another
        database of this station); returns the next free seq. Payloads carry their seq, so
        they are rewritten; order is kept.
        """
        with self.transaction():
            rows = self.conn.execute(
                "SELECT station_seq, event_id, kind, payload, created_at FROM outbox "
                "WHERE station_seq > ? AND acked = 0 ORDER BY station_seq",
                (local_acked,),
            ).fetchall()
            moved: dict[int, int] = {}
            next_seq = central_through + 1
            new_rows = []
            for old_seq, event_id, kind, payload, created_at in rows:
                doc = json.loads(payload)
                doc["station_seq"] = next_seq
                new_rows.append(
                    (next_seq, event_id, kind, json.dumps(doc, separators=(",", ":")), created_at)
                )
                moved[int(old_seq)] = next_seq
                next_seq += 1
            # Old and new ranges may overlap (after a recovery central_through can be below our
            # highest seq): delete every moved row first, then insert, so no key collides.
            self.conn.executemany(
                "DELETE FROM outbox WHERE station_seq = ?", [(old,) for old in moved]
            )
            self.conn.executemany(
                "INSERT INTO outbox(station_seq, event_id, kind, payload, created_at, acked) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                new_rows,
            )
            local = self.conn.execute(
                "SELECT station_seq, visit_id, card_hash, room_id, step_index, service_day, "
                "ticket_number, priority, hlc FROM local_checkins"
            ).fetchall()
            local = [r for r in local if r[0] in moved]
            self.conn.executemany(
                "DELETE FROM local_checkins WHERE station_seq = ?", [(r[0],) for r in local]
            )
            self.conn.executemany(
                "INSERT INTO local_checkins(station_seq, visit_id, card_hash, room_id, "
                "step_index, service_day, ticket_number, priority, hlc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(moved[r[0]], *r[1:]) for r in local],
            )
            self._set_meta("next_seq", str(next_seq))
            self._set_meta("acked_through", str(central_through))
        return next_seq

    def acked_through(self) -> int:
        stored = self.get_meta("acked_through")
        return int(stored) if stored else 0

    def outbox_depth(self) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM outbox WHERE acked = 0").fetchone()
        return int(row[0])

    def oldest_unacked_created_at(self) -> float | None:
        row = self.conn.execute(
            "SELECT created_at FROM outbox WHERE acked = 0 ORDER BY station_seq LIMIT 1"
        ).fetchone()
        return None if row is None else float(row[0])

    def prune_acked(self, older_than: float) -> int:
        """Delete acknowledged rows created before `older_than` (wall seconds)."""
        with self.transaction():
            cur = self.conn.execute(
                "DELETE FROM outbox WHERE acked = 1 AND created_at < ? AND station_seq < "
                "(SELECT MAX(station_seq) FROM outbox)",
                (older_than,),
            )
        return int(cur.rowcount)

    def all_events(self) -> list[OutboxRow]:
        """Every outbox row, oldest first (tests and diagnostics)."""
        rows = self.conn.execute(
            "SELECT station_seq, event_id, kind, payload, created_at FROM outbox "
            "ORDER BY station_seq"
        ).fetchall()
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    # --- directory, snapshots -----------------------------------------------------------------

    def load_versioned(self, table: str) -> dict[str, tuple[int, str]]:
        """`directory` or `room_snapshots` as {key: (version, payload)}."""
        key = {"directory": "kind", "room_snapshots": "room_id"}[table]
        rows = self.conn.execute(f"SELECT {key}, version, payload FROM {table}").fetchall()  # noqa: S608
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    def put_versioned(self, table: str, key: str, version: int, payload: str) -> bool:
        """Store a document only when `version` is newer than the stored one; True if stored."""
        column = {"directory": "kind", "room_snapshots": "room_id"}[table]
        with self.transaction():
            row = self.conn.execute(
                f"SELECT version FROM {table} WHERE {column} = ?",  # noqa: S608
                (key,),
            ).fetchone()
            if row is not None and int(row[0]) >= version:
                return False
            self.conn.execute(
                f"INSERT OR REPLACE INTO {table}({column}, version, payload) "  # noqa: S608
                "VALUES (?, ?, ?)",
                (key, version, payload),
            )
        return True

    # --- today's cards ----------------------------------------------------------------------

    def replace_cards(
        self, version: int, envelope: str, entries: Iterable[tuple[str, str]]
    ) -> bool:
        """Store a cards document if `version` is newer: the document without its cards
        (`envelope`) in `directory`, and one `cards` row per (card_hash, entry JSON), all in one
        transaction. True if stored.

        `entries` is consumed as the rows are written (a generator keeps one card in memory,
        not 10,000). If it raises (a bad card half-way through a document), the transaction
        rolls back: the previous document and its cards stay, and the error propagates.
        """
        with self.transaction():
            row = self.conn.execute("SELECT version FROM directory WHERE kind = 'cards'").fetchone()
            if row is not None and int(row[0]) >= version:
                return False
            self.conn.execute("DELETE FROM cards")
            self.conn.executemany(
                "INSERT OR REPLACE INTO cards(card_hash, entry) VALUES (?, ?)", entries
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO directory(kind, version, payload) VALUES ('cards', ?, ?)",
                (version, envelope),
            )
        return True

    def card_entry(self, card_hash: str) -> str | None:
        """The stored JSON of today's card with `card_hash`, or None."""
        try:
            row = self.conn.execute(
                "SELECT entry FROM cards WHERE card_hash = ?", (card_hash,)
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot read the cards directory: {e}") from e
        return None if row is None else str(row[0])

    def card_entries(self, card_hashes: Sequence[str]) -> dict[str, str]:
        """{card_hash: entry JSON} of those of `card_hashes` that are stored."""
        out: dict[str, str] = {}
        try:
            for i in range(0, len(card_hashes), 500):
                chunk = card_hashes[i : i + 500]
                marks = ",".join("?" * len(chunk))
                out.update(
                    self.conn.execute(
                        f"SELECT card_hash, entry FROM cards WHERE card_hash IN ({marks})",  # noqa: S608
                        chunk,
                    ).fetchall()
                )
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot read the cards directory: {e}") from e
        return out

    def card_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM cards").fetchone()[0])

    # --- leases -----------------------------------------------------------------------------

    def lease_blocks(self) -> list[LeaseBlockRow]:
        rows = self.conn.execute(
            "SELECT lease_id, room_id, service_day, first, last, next_number FROM lease_blocks "
            "ORDER BY room_id, first"
        ).fetchall()
        return [
            LeaseBlockRow(r[0], r[1], date.fromisoformat(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in rows
        ]

    def apply_lease(self, lease: Lease) -> bool:
        """Replace the leased blocks with `lease` if its version is newer; True if applied.

        A block already held keeps its next number: numbers issued from it stay issued.
        """
        with self.transaction():
            stored = self.get_meta("lease_version")
            if stored is not None and int(stored) >= lease.version:
                return False
            old = {b.lease_id: b for b in self.lease_blocks()}
            self.conn.execute("DELETE FROM lease_blocks")
            for block in lease.blocks:
                prev = old.get(block.lease_id)
                next_number = max(block.first, prev.next_number) if prev else block.first
                self.conn.execute(
                    "INSERT INTO lease_blocks(lease_id, room_id, service_day, first, last, "
                    "next_number) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        block.lease_id,
                        block.room_id,
                        block.service_day.isoformat(),
                        block.first,
                        block.last,
                        next_number,
                    ),
                )
            self._set_meta("lease_version", str(lease.version))
        return True

    # --- local check-ins --------------------------------------------------------------------

    def local_checkins(self) -> list[LocalCheckIn]:
        rows = self.conn.execute(
            "SELECT station_seq, visit_id, card_hash, room_id, step_index, service_day, "
            "ticket_number, priority, hlc FROM local_checkins ORDER BY station_seq"
        ).fetchall()
        return [
            LocalCheckIn(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                int(r[4]),
                date.fromisoformat(r[5]),
                None if r[6] is None else int(r[6]),
                int(r[7]),
                r[8],
            )
            for r in rows
        ]

    def forget_local_checkins(self, seqs: Sequence[int]) -> None:
        """Drop local check-ins central's snapshots now show (or that it refused)."""
        if not seqs:
            return
        with self.transaction():
            self.conn.executemany(
                "DELETE FROM local_checkins WHERE station_seq = ?", [(s,) for s in seqs]
            )
