"""The station database: WAL + synchronous=FULL, versioned schema, an old file upgrades itself."""

from __future__ import annotations

import sqlite3

import pytest

from edge.errors import SchemaTooNewError
from edge.store import SCHEMA_VERSION, StationStore
from edge.store.db import OutboxRow, TapWrite

# The schema as the first released daemon wrote it (schema v1), frozen here on purpose:
# it must not follow later edits of edge/store/migrations.py.
V1_SCHEMA = """
CREATE TABLE [outbox] (
   [station_seq] INTEGER PRIMARY KEY,
   [event_id] TEXT NOT NULL,
   [kind] TEXT NOT NULL,
   [payload] TEXT NOT NULL,
   [created_at] FLOAT NOT NULL,
   [acked] INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE [meta] ([key] TEXT PRIMARY KEY, [value] TEXT);
CREATE TABLE [directory] ([kind] TEXT PRIMARY KEY, [version] INTEGER, [payload] TEXT);
CREATE TABLE [lease_blocks] (
   [lease_id] TEXT PRIMARY KEY, [room_id] TEXT, [service_day] TEXT,
   [first] INTEGER, [last] INTEGER, [next_number] INTEGER
);
CREATE TABLE [room_snapshots] ([room_id] TEXT PRIMARY KEY, [version] INTEGER, [payload] TEXT);
PRAGMA user_version = 1;
"""


def make_v1(path):
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.executemany(
        "INSERT INTO outbox(station_seq, event_id, kind, payload, created_at, acked) "
        "VALUES (?, ?, 'tap', '{}', 1.0, ?)",
        [(1, "e1", 1), (2, "e2", 0), (3, "e3", 0)],
    )
    conn.execute("INSERT INTO meta VALUES ('next_seq', '4'), ('acked_through', '1')")
    conn.execute("INSERT INTO lease_blocks VALUES ('l1', 'xray-1', '2026-11-27', 101, 150, 120)")
    conn.commit()
    conn.close()


def test_a_v1_database_upgrades_itself_and_keeps_its_data(sqlite_path):
    make_v1(sqlite_path)
    store = StationStore(sqlite_path)
    assert store.schema_version == SCHEMA_VERSION == 2
    assert [r.station_seq for r in store.unacked(0, 10)] == [2, 3]
    assert store.max_seq() == 3
    assert store.acked_through() == 1
    blocks = store.lease_blocks()
    assert [(b.lease_id, b.next_number, b.remaining) for b in blocks] == [("l1", 120, 31)]
    # v2 features work on the upgraded file.
    assert store.local_checkins() == []
    store.settle(2, {3: "unknown_visit"})
    reason = store.conn.execute("SELECT reject_reason FROM outbox WHERE station_seq=3").fetchone()
    assert reason[0] == "unknown_visit"
    store.close()
    # Opening again is a no-op.
    assert StationStore(sqlite_path).schema_version == SCHEMA_VERSION


def test_a_newer_database_is_refused_not_downgraded(sqlite_path):
    conn = sqlite3.connect(sqlite_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="newer than this daemon"):
        StationStore(sqlite_path)


def test_wal_and_full_sync_are_on(sqlite_path):
    store = StationStore(sqlite_path)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_failed_tap_write_leaves_nothing_half_written(sqlite_path):
    store = StationStore(sqlite_path)
    row = OutboxRow(1, "e1", "tap", "{}", 1.0)
    store.record_tap(TapWrite(events=[row], last_hlc="h1", next_seq=2))
    with pytest.raises(Exception, match="UNIQUE"):
        # seq 1 again (a bug): the meta update in the same transaction must roll back too.
        store.record_tap(TapWrite(events=[row], last_hlc="h2", next_seq=3))
    assert store.get_meta("last_hlc") == "h1"
    assert store.get_meta("next_seq") == "2"
