"""The station database schema, as numbered migrations (PRAGMA user_version is the version).

A station that was switched off for a software update opens its old database with the new
daemon: every migration above the file's version runs in order, each in its own transaction,
so a power cut mid-upgrade leaves the file at the last complete version.
Never edit a released migration; add the next one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Imported only when a migration runs (edge.store.db.StationStore.migrate): a station
    # whose database is current never loads sqlite-utils (about 4.4 MB resident).
    import sqlite_utils

log = logging.getLogger(__name__)


def _v1(db: sqlite_utils.Database) -> None:
    db["outbox"].create(  # type: ignore[union-attr]
        {
            "station_seq": int,
            "event_id": str,
            "kind": str,
            "payload": str,
            "created_at": float,
            "acked": int,
        },
        pk="station_seq",
        not_null={"event_id", "kind", "payload", "created_at", "acked"},
        defaults={"acked": 0},
    )
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]
    db["directory"].create(  # type: ignore[union-attr]
        {"kind": str, "version": int, "payload": str}, pk="kind"
    )
    db["lease_blocks"].create(  # type: ignore[union-attr]
        {
            "lease_id": str,
            "room_id": str,
            "service_day": str,
            "first": int,
            "last": int,
            "next_number": int,
        },
        pk="lease_id",
    )
    db["room_snapshots"].create(  # type: ignore[union-attr]
        {"room_id": str, "version": int, "payload": str}, pk="room_id"
    )


def _v2(db: sqlite_utils.Database) -> None:
    # Central's reject reason is kept so a technician can see why an event was refused.
    db["outbox"].add_column("reject_reason", str)  # type: ignore[union-attr]
    db.execute("CREATE INDEX outbox_unacked ON outbox(station_seq) WHERE acked = 0")
    # Check-ins decided here that central's snapshots do not show yet: the offline estimate.
    db["local_checkins"].create(  # type: ignore[union-attr]
        {
            "station_seq": int,
            "visit_id": str,
            "card_hash": str,
            "room_id": str,
            "step_index": int,
            "service_day": str,
            "ticket_number": int,
            "priority": int,
            "hlc": str,
        },
        pk="station_seq",
    )


def _v3(db: sqlite_utils.Database) -> None:
    # Today's cards, one row per card: a tap looks its card up here instead of the daemon
    # holding every card of the day as Python objects (about 5 KB each, 47 MB for 10,000).
    # The `directory` row of kind 'cards' keeps the document without its cards.
    db.execute("CREATE TABLE cards (card_hash TEXT PRIMARY KEY, entry TEXT NOT NULL) WITHOUT ROWID")
    row = db.execute("SELECT payload FROM directory WHERE kind = 'cards'").fetchone()
    if row is None:
        return
    try:
        doc = json.loads(row[0])
        entries = doc.pop("cards")
        rows = [(e["card_hash"], json.dumps(e, ensure_ascii=False)) for e in entries]
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        # Unreadable: drop it; central's retained document fills the cache again.
        log.warning("store.cached_cards_dropped error=%r", e)
        db.execute("DELETE FROM directory WHERE kind = 'cards'")
        return
    db.conn.executemany("INSERT OR REPLACE INTO cards(card_hash, entry) VALUES (?, ?)", rows)
    doc["cards"] = []
    db.execute(
        "UPDATE directory SET payload = ? WHERE kind = 'cards'",
        [json.dumps(doc, ensure_ascii=False)],
    )


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)
