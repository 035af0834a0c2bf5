"""The station database: WAL + synchronous=FULL, versioned schema, an old file upgrades itself."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import date

import pytest

from edge.errors import CorruptDatabaseError, SchemaTooNewError, StoreError
from edge.station import Station
from edge.store import SCHEMA_VERSION, StationStore
from edge.store.db import SEQ_UNVERIFIED, LocalCheckIn, OutboxRow, TapWrite
from protocol.codec import encode
from protocol.ids import card_hash
from tests.support.edge_world import cards, uid
from tests.support.factories import SITE_KEY

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


def make_v1(path, cards_payload: str | None = None):
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.executemany(
        "INSERT INTO outbox(station_seq, event_id, kind, payload, created_at, acked) "
        "VALUES (?, ?, 'tap', '{}', 1.0, ?)",
        [(1, "e1", 1), (2, "e2", 0), (3, "e3", 0)],
    )
    conn.execute("INSERT INTO meta VALUES ('next_seq', '4'), ('acked_through', '1')")
    conn.execute("INSERT INTO lease_blocks VALUES ('l1', 'xray-1', '2026-11-27', 101, 150, 120)")
    if cards_payload is not None:
        conn.execute("INSERT INTO directory VALUES ('cards', 7, ?)", (cards_payload,))
    conn.commit()
    conn.close()


def test_a_v1_database_upgrades_itself_and_keeps_its_data(sqlite_path):
    make_v1(sqlite_path)
    store = StationStore(sqlite_path)
    assert store.schema_version == SCHEMA_VERSION == 3
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


# --- a corrupt database is moved aside, salvaged and replaced --------------------------------


def _station_db(path) -> StationStore:
    """A store with two acked and two unsent events, a used lease block and local check-ins."""
    store = StationStore(path)
    for seq in (1, 2, 3, 4):
        store.record_tap(
            TapWrite(
                events=[OutboxRow(seq, f"e{seq}", "check_in", f'{{"station_seq":{seq}}}', 1.0)],
                last_hlc=f"h{seq}",
                next_seq=seq + 1,
                local_checkin=LocalCheckIn(
                    seq, f"v{seq}", f"c{seq}", "xray-1", 0, date(2026, 11, 27), 100 + seq, 5, "h"
                ),
            )
        )
    store.conn.execute(
        "INSERT INTO lease_blocks VALUES ('l1', 'xray-1', '2026-11-27', 101, 150, 105)"
    )
    store.conn.execute("INSERT INTO meta VALUES ('lease_version', '3')")
    store.settle(2, {})
    for i in range(200):  # enough rows for the snapshots table to own pages of its own
        store.put_versioned("room_snapshots", f"room-{i}", 1, "x" * 200)
    store.close()
    return store


def _garble_table(path, table: str) -> None:
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root[0] - 1) * page_size)
        f.write(b"\x5a" * page_size)


def test_a_garbled_file_is_moved_aside_and_a_fresh_database_starts(sqlite_path):
    _station_db(sqlite_path)
    wal = sqlite_path.with_name(sqlite_path.name + "-wal")
    wal.write_bytes(b"not a wal")  # left by a crash: must go aside with the file
    with open(sqlite_path, "r+b") as f:
        f.write(b"\x5a" * 8192)
    store = StationStore(sqlite_path)
    r = store.recovery
    assert r is not None
    assert "not a database" in r.reason
    assert r.moved_to.name.startswith(sqlite_path.name + ".corrupt-")
    assert r.moved_to.exists()
    assert r.moved_to.with_name(r.moved_to.name + "-wal").exists()
    assert r.salvaged == 0
    assert r.salvage_error is not None
    # Fresh and usable; the seq counter is unknown, so the first ack must decide.
    assert store.schema_version == SCHEMA_VERSION
    assert store.all_events() == []
    assert store.lease_blocks() == []
    assert store.get_meta(SEQ_UNVERIFIED) == "1"
    store.close()
    # The next start opens the fresh file normally.
    again = StationStore(sqlite_path)
    assert again.recovery is None


def test_a_damaged_page_is_found_by_quick_check_and_the_outbox_salvaged(sqlite_path, caplog):
    _station_db(sqlite_path)
    _garble_table(sqlite_path, "room_snapshots")
    with pytest.raises(CorruptDatabaseError, match="corrupt"):
        StationStore(sqlite_path, recover_corrupt=False)
    store = StationStore(sqlite_path)
    r = store.recovery
    assert r is not None
    assert r.salvage_error is None
    assert r.salvaged == 2
    # Unsent events keep their seq and event_id (central dedups on it); acked ones are gone.
    assert [(e.station_seq, e.event_id) for e in store.unacked(0, 10)] == [(3, "e3"), (4, "e4")]
    assert [c.station_seq for c in store.local_checkins()] == [3, 4]
    assert store.max_seq() == 4
    assert store.acked_through() == 2
    assert store.get_meta("last_hlc") == "h4"
    assert store.get_meta(SEQ_UNVERIFIED) is None
    # The lease block keeps its next number; the retained lease applies again over it.
    assert [(b.lease_id, b.next_number) for b in store.lease_blocks()] == [("l1", 105)]
    assert store.get_meta("lease_version") is None
    assert store.load_versioned("room_snapshots") == {}
    assert "store.corrupt_moved_aside" in caplog.text
    assert "store.salvaged" in caplog.text


def test_an_unreadable_outbox_is_reported_not_half_salvaged(sqlite_path, caplog):
    _station_db(sqlite_path)
    _garble_table(sqlite_path, "outbox")
    store = StationStore(sqlite_path)
    r = store.recovery
    assert r is not None
    assert r.salvaged == 0
    assert r.salvage_error is not None
    assert "outbox" in r.salvage_error
    assert store.all_events() == []
    assert store.get_meta(SEQ_UNVERIFIED) == "1"
    assert "store.salvage_failed" in caplog.text


def test_a_file_that_cannot_be_opened_for_other_reasons_is_not_moved(tmp_path):
    path = tmp_path / "station.sqlite3"
    path.mkdir()  # a directory where the file should be: not corruption
    with pytest.raises(StoreError, match="cannot open") as info:
        StationStore(path)
    assert not isinstance(info.value, CorruptDatabaseError)
    assert [p.name for p in tmp_path.iterdir()] == ["station.sqlite3"]


def test_sqlite_utils_is_loaded_only_to_migrate_and_then_without_numpy(tmp_path):
    # sqlite-utils (about 4.4 MB resident) is used by the migrations only: a daemon whose
    # database is current never imports it. When a migration runs it is imported without the
    # numpy and pandas it would load whenever installed (about 12 MB); a later import of
    # numpy still works.
    code = (
        "import importlib.util, sys\n"
        "from pathlib import Path\n"
        "from edge.store import StationStore\n"
        "assert 'sqlite_utils' not in sys.modules\n"
        "path = Path(sys.argv[1])\n"
        "fresh = not path.exists()\n"
        "StationStore(path).close()\n"
        "assert ('sqlite_utils' in sys.modules) == fresh, sorted(sys.modules)\n"
        "assert 'numpy' not in sys.modules and 'pandas' not in sys.modules, sorted(sys.modules)\n"
        "if importlib.util.find_spec('numpy') is not None:\n"
        "    import numpy\n"
        "    print('numpy', numpy.__version__)\n"
        "print('migrated' if fresh else 'current')\n"
    )
    path = tmp_path / "st.sqlite3"
    for expected in ("migrated", "current"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.endswith(f"{expected}\n")


def test_a_cached_cards_document_moves_into_one_row_per_card_on_upgrade(tmp_path):
    path = tmp_path / "st.sqlite3"
    make_v1(path, encode(cards(3, version=7)).decode())
    store = StationStore(path)
    assert store.card_count() == 3
    (version, envelope) = store.load_versioned("directory")["cards"]
    assert version == 7
    assert json.loads(envelope)["cards"] == []
    # The station finds each card through the database, as decoded entries.
    st = Station("st-1", store, SITE_KEY)
    entry = st.cache.cards.get(card_hash(SITE_KEY, uid(2)))
    assert entry is not None
    assert entry.visit_id == "v2"
    assert st.cache.cards.get(card_hash(SITE_KEY, uid(4))) is None
    assert st.cache.versions["cards"] == 7
    store.close()


def test_an_unreadable_cached_cards_document_is_dropped_on_upgrade(tmp_path):
    path = tmp_path / "st.sqlite3"
    make_v1(path, '{"kind": "cards", "version": 7')  # cut short
    store = StationStore(path)
    assert store.card_count() == 0
    assert "cards" not in store.load_versioned("directory")
    assert [r.station_seq for r in store.unacked(0, 10)] == [2, 3]  # nothing else lost
    store.close()


def test_a_new_cards_document_replaces_every_row_and_an_older_one_is_refused(tmp_path):
    store = StationStore(tmp_path / "st.sqlite3")
    assert store.replace_cards(2, "{}", [("h1", "{}"), ("h2", "{}")])
    assert store.replace_cards(3, "{}", [("h3", "{}")])
    assert not store.replace_cards(3, "{}", [("h4", "{}")])
    assert store.card_count() == 1
    assert store.card_entries(["h1", "h3", "h4"]) == {"h3": "{}"}
    assert store.card_entry("h3") == "{}"
    store.close()
