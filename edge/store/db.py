"""`StationStore`: every read and write of the station database, in short transactions.

WAL with `synchronous=FULL`: a committed tap survives a power cut, and readers (the sender,
`/metrics`) never block the tap path. Only card hashes and masked names are ever written here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlite_utils

from edge.errors import DiskFullError, SchemaTooNewError, StoreError
from edge.store.migrations import MIGRATIONS, SCHEMA_VERSION
from protocol.messages import Lease

log = logging.getLogger(__name__)


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


class StationStore:
    """The station database. One instance per process; not shared across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a tap is one transaction.
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as e:
            raise StoreError(f"{path}: cannot open the station database: {e}") from e
        self.db = sqlite_utils.Database(self.conn)
        self.migrate()

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
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[version - 1](self.db)
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
            next_seq = central_through + 1
            for old_seq, event_id, kind, payload, created_at in rows:
                doc = json.loads(payload)
                doc["station_seq"] = next_seq
                self.conn.execute("DELETE FROM outbox WHERE station_seq = ?", (old_seq,))
                # New seqs are above every stored one (central_through > our highest seq).
                self.conn.execute(
                    "INSERT INTO outbox(station_seq, event_id, kind, payload, created_at, acked) "
                    "VALUES (?, ?, ?, ?, ?, 0)",
                    (next_seq, event_id, kind, json.dumps(doc, separators=(",", ":")), created_at),
                )
                self.conn.execute(
                    "UPDATE local_checkins SET station_seq = ? WHERE station_seq = ?",
                    (next_seq, old_seq),
                )
                next_seq += 1
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
