"""The history checker itself: it must catch a lost, a doubled, an out-of-order tap, a seq gap
and a ticket number issued twice, and accept indeterminate taps either way."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.history import History, check

pytestmark = pytest.mark.fault


def central_db(path: Path, events: list[tuple[str, int, str, str, dict[str, object]]]) -> Path:
    """A file with the two tables (and columns) of central's schema the checker reads."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE events (station_id TEXT, station_seq INT, kind TEXT, outcome TEXT, "
            "payload TEXT)"
        )
        conn.execute(
            "CREATE TABLE queue_entries (room_id TEXT, service_day TEXT, ticket_number INT)"
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            [(s, q, k, o, json.dumps(p)) for s, q, k, o, p in events],
        )
    return path


def tap(seq: int, card: str, ticket: int | None = None, kind: str = "check_in"):
    payload: dict[str, object] = {"card_hash": card}
    if ticket is not None:
        payload.update(room_id="xray", service_day="2026-11-27", ticket_number=ticket)
    return ("st", seq, kind, "applied", payload)


def history(*ops: tuple[str, str]) -> History:
    h = History()
    for card, status in ops:
        h.complete(h.invoke("st", card), status)  # type: ignore[arg-type]
    return h


def test_exactly_once_passes(tmp_path):
    db = central_db(tmp_path / "c.db", [tap(1, "a", 1), tap(2, "b", 2), tap(3, "a", kind="tap")])
    report = check(history(("a", "ok"), ("b", "ok"), ("a", "ok")), db)
    assert report.problems == []


def test_indeterminate_taps_may_be_in_or_out(tmp_path):
    db = central_db(tmp_path / "c.db", [tap(1, "a"), tap(2, "c")])
    report = check(history(("a", "ok"), ("b", "info"), ("c", "info"), ("d", "fail")), db)
    assert report.problems == []
    assert report.info_applied == 1


def test_a_lost_tap_is_caught(tmp_path):
    db = central_db(tmp_path / "c.db", [tap(1, "a")])
    report = check(history(("a", "ok"), ("b", "ok")), db)
    assert report.lost == 1
    assert any("do not match" in p for p in report.problems)


def test_a_doubled_tap_and_a_refused_one_that_got_in_are_caught(tmp_path):
    db = central_db(tmp_path / "c.db", [tap(1, "a"), tap(2, "a"), tap(3, "b")])
    report = check(history(("a", "ok"), ("b", "fail")), db)
    assert report.duplicated == 2
    assert report.problems


def test_order_matters_not_only_counts(tmp_path):
    db = central_db(tmp_path / "c.db", [tap(1, "b"), tap(2, "a")])
    report = check(history(("a", "ok"), ("b", "ok")), db)
    assert report.lost == 0
    assert report.duplicated == 0
    assert any("do not match" in p for p in report.problems)


def test_a_seq_gap_and_a_double_ticket_are_caught(tmp_path):
    db = central_db(tmp_path / "c.db", [tap(1, "a", 7), tap(3, "b", 7)])
    report = check(history(("a", "ok"), ("b", "ok")), db)
    assert any("gap" in p for p in report.problems)
    assert any("issued twice" in p for p in report.problems)
