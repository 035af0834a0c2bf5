"""Station core: local decisions, durable outbox, leases, versions, clocks (real SQLite)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from edge.readers.base import CardRead, ReadFailure
from edge.station import Station
from edge.store.db import StationStore
from edge.sync.link import build_batch
from protocol.codec import decode, encode
from protocol.hlc import HLCTimestamp
from protocol.ids import card_hash
from protocol.journey import State
from protocol.messages import (
    Ack,
    EventBatch,
    EventReject,
    QueueEntry,
    ReaderHealth,
    RoomQueueSnapshot,
)
from tests.support.edge_world import DAY, cards, config, lease, rooms, routes, uid
from tests.support.factories import SITE_KEY


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, t: float = datetime(2026, 11, 27, 1, 0, tzinfo=UTC).timestamp()) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_station(tmp_path, wall=None, **docs_kw) -> Station:
    store = StationStore(tmp_path / "st.sqlite3")
    st = Station("st-1", store, SITE_KEY, location_node="st-1", wall=wall or Clock())
    for doc in (rooms(), config(**docs_kw), routes(), cards(20)):
        st.apply_directory(doc, encode(doc).decode())
    st.apply_lease(lease("st-1", 1, [("l1", "xray-1", 101, 110)]))
    return st


def tap(st: Station, i: int):
    return st.handle_read(CardRead(uid(i), "sim", "simulated", 0.0))


def events(st: Station) -> list[dict]:
    return [json.loads(r.payload) for r in st.store.all_events()]


def snapshot(version: int, waiting: list[QueueEntry], calling=()) -> RoomQueueSnapshot:
    return RoomQueueSnapshot(
        room_id="xray-1",
        version=version,
        service_day=DAY,
        generated_at=datetime(2026, 11, 27, 1, tzinfo=UTC),
        now_calling=list(calling),
        ongoing=[],
        waiting=waiting,
        served_today=0,
    )


def q(visit: str, ticket: int, state="WAITING", position=None) -> QueueEntry:
    return QueueEntry(
        visit_id=visit,
        ticket_number=ticket,
        masked_name="김*수",
        state=state,
        priority=5,
        position=position,
    )


def test_check_in_issues_leased_numbers_and_writes_before_the_screen(tmp_path):
    st = make_station(tmp_path)
    shown = []
    st.feed.subscribe()
    screen = tap(st, 1)
    shown.append(screen)
    assert screen.kind == "checked_in"
    assert screen.ticket_number == 101
    assert screen.room_name is not None
    assert screen.room_name.en == "X-ray room"
    assert screen.route is not None
    assert screen.route.to_node == "xray"
    assert screen.phone_url == "https://h.example/p/v/v1"
    assert screen.prep_notes is not None
    assert screen.position == 1
    assert screen.position_is_estimate
    # The event was already in the database when the screen was built.
    ev = events(st)
    assert [e["kind"] for e in ev] == ["check_in"]
    assert ev[0]["ticket_number"] == 101
    assert ev[0]["lease_id"] == "l1"
    assert ev[0]["card_hash"] == card_hash(SITE_KEY, uid(1))
    second = tap(st, 2)
    assert second.ticket_number == 102
    assert second.position == 2
    assert second.estimated_wait_s == 300


def test_second_tap_says_already_waiting_with_the_same_number(tmp_path):
    st = make_station(tmp_path)
    tap(st, 1)
    again = tap(st, 1)
    assert again.kind == "already_waiting"
    assert again.ticket_number == 101
    kinds = [(e["kind"], e.get("outcome")) for e in events(st)]
    assert kinds == [("check_in", None), ("tap", "already_waiting")]


def test_unknown_card_sends_to_reception(tmp_path):
    st = make_station(tmp_path)
    screen = tap(st, 999)
    assert screen.kind == "unknown_card"
    assert screen.message.en == "Please go to the reception desk."
    assert [e["kind"] for e in events(st)] == ["unknown_card"]


@pytest.mark.parametrize(
    ("state", "screen", "outcome"),
    [
        (State.CALLED, "called_now", "called_now"),
        (State.ONGOING, "in_exam", "in_exam"),
        (State.FINISHED, "visit_finished", "visit_finished"),
        (State.CANCELLED, "visit_finished", "visit_finished"),
        (State.PAYMENT, "visit_finished", "visit_finished"),
        (State.WAITING, "already_waiting", "already_waiting"),
        (State.ARRIVED, "unknown_card", "not_today"),
    ],
)
def test_states_map_to_screens_and_tap_events(tmp_path, state, screen, outcome):
    st = make_station(tmp_path)
    doc = cards(3, state=state, version=2, ticket_number=7)
    st.apply_directory(doc, encode(doc).decode())
    got = tap(st, 2)
    assert got.kind == screen
    ev = events(st)
    assert [(e["kind"], e["outcome"]) for e in ev] == [("tap", outcome)]


def test_snapshot_is_fresher_than_cards_and_position_comes_from_it(tmp_path):
    st = make_station(tmp_path)
    snap = snapshot(3, [q("v8", 40, position=1), q("v2", 41, position=2)], calling=[])
    assert st.apply_snapshot(snap, encode(snap).decode())
    got = tap(st, 2)
    assert (got.kind, got.ticket_number, got.position) == ("already_waiting", 41, 2)
    # A new check-in queues behind the snapshot's two waiting patients.
    new = tap(st, 3)
    assert (new.kind, new.position) == ("checked_in", 3)
    calling = snapshot(4, [q("v8", 40)], calling=[q("v2", 41, state="CALLED")])
    st.apply_snapshot(calling, encode(calling).decode())
    assert tap(st, 2).kind == "called_now"


def test_block_exhausted_offline_records_check_in_without_inventing_a_number(tmp_path):
    st = make_station(tmp_path)
    st.apply_lease(lease("st-1", 2, [("l2", "xray-1", 201, 202)]))
    assert [tap(st, i).ticket_number for i in (1, 2)] == [201, 202]
    third = tap(st, 3)
    assert third.kind == "no_ticket"
    assert third.ticket_number is None
    assert "shortly" in third.message.en
    assert "no_tickets" in st.alarms
    checkins = [e for e in events(st) if e["kind"] == "check_in"]
    assert [e["ticket_number"] for e in checkins] == [201, 202, None]
    # A lease request went out once when the room fell below the low-water mark.
    requests = [e for e in events(st) if e["kind"] == "lease_request"]
    assert len(requests) == 1
    assert requests[0]["room_ids"] == ["xray-1"]
    # A new lease clears the request state; numbers continue from the new block.
    st.apply_lease(lease("st-1", 3, [("l3", "xray-1", 301, 400)]))
    assert tap(st, 4).ticket_number == 301


def test_lease_keeps_issued_numbers_and_never_goes_back(tmp_path):
    st = make_station(tmp_path)
    tap(st, 1)
    tap(st, 2)
    # The same block re-sent in a newer lease keeps its next number.
    assert st.apply_lease(lease("st-1", 2, [("l1", "xray-1", 101, 110)]))
    assert tap(st, 3).ticket_number == 103
    # An older lease is ignored.
    assert not st.apply_lease(lease("st-1", 1, [("l0", "xray-1", 1, 50)]))
    assert tap(st, 4).ticket_number == 104


def test_never_goes_back_to_an_older_directory_or_snapshot(tmp_path):
    st = make_station(tmp_path)
    newer = cards(5, state=State.FINISHED, version=5)
    assert st.apply_directory(newer, encode(newer).decode())
    older = cards(5, state=State.REGISTERED, version=4)
    assert not st.apply_directory(older, encode(older).decode())
    same = cards(5, state=State.REGISTERED, version=5)
    assert not st.apply_directory(same, encode(same).decode())
    assert tap(st, 1).kind == "visit_finished"
    s5 = snapshot(5, [q("v1", 1)])
    s4 = snapshot(4, [])
    assert st.apply_snapshot(s5, encode(s5).decode())
    assert not st.apply_snapshot(s4, encode(s4).decode())
    assert st.cache.snapshots["xray-1"].version == 5
    # A restarted station reloads the newest versions from its database.
    reopened = Station("st-1", StationStore(st.store.path), SITE_KEY, wall=Clock())
    assert reopened.cache.versions["cards"] == 5
    assert reopened.cache.snapshots["xray-1"].version == 5
    assert not reopened.apply_directory(older, encode(older).decode())


def test_garbage_reads_show_tap_again_and_record_nothing(tmp_path):
    st = make_station(tmp_path)
    for reason in ("bad_uid", "card_removed", "reader_error", "bad_status"):
        screen = st.handle_read(ReadFailure("sim", reason))  # type: ignore[arg-type]
        assert screen.kind == "read_error"
        assert "again" in screen.message.en
    with pytest.raises(ValueError, match="expected 4 to 20"):
        CardRead("04A1", "sim", "simulated", 0.0)
    assert st.store.all_events() == []
    assert st.next_seq == 1


def test_disk_full_refuses_the_tap_with_an_alarm_and_keeps_what_was_accepted(tmp_path):
    st = make_station(tmp_path)
    for i in range(1, 4):
        tap(st, i)
    before = st.store.all_events()
    pages = st.store.conn.execute("PRAGMA page_count").fetchone()[0]
    st.store.conn.execute(f"PRAGMA max_page_count={pages}")
    # Fill the last free pages so the next event cannot fit.
    refused = None
    for i in range(4, 200):
        screen = tap(st, i)
        if screen.kind == "refused":
            refused = screen
            break
    assert refused is not None
    assert "reception" in refused.message.en
    assert "disk_full" in st.alarms
    after = st.store.all_events()
    assert after[: len(before)] == before
    assert [r.station_seq for r in after] == list(range(1, len(after) + 1))
    # Space comes back: taps work again and the alarm clears; seqs have no gap.
    st.store.conn.execute("PRAGMA max_page_count=1073741823")
    ok = tap(st, 300)
    assert ok.kind == "unknown_card"
    assert "disk_full" not in st.alarms
    seqs = [r.station_seq for r in st.store.all_events()]
    assert seqs == list(range(1, len(seqs) + 1))


def test_clock_jumps_do_not_reorder_events_or_change_the_service_day(tmp_path):
    clock = Clock()
    st = make_station(tmp_path, wall=clock)
    tap(st, 1)
    clock.t -= 5 * 3600  # NTP pulls the clock back by hours
    tap(st, 2)
    clock.t += 2 * 86400  # then it jumps a day (and more) ahead
    tap(st, 3)
    clock.t -= 86400
    tap(st, 4)
    ev = events(st)
    hlcs = [HLCTimestamp.from_text(e["hlc"]) for e in ev]
    seqs = [e["station_seq"] for e in ev]
    assert seqs == sorted(seqs) == list(range(1, len(ev) + 1))
    assert hlcs == sorted(hlcs)
    assert len(set(hlcs)) == len(hlcs)
    days = {e["service_day"] for e in ev if e["kind"] == "check_in"}
    assert days == {DAY.isoformat()}
    # The HLC survives a restart with the clock still wrong.
    clock.t -= 10 * 3600
    reopened = Station("st-1", StationStore(st.store.path), SITE_KEY, wall=clock)
    reopened.apply_lease(lease("st-1", 9, [("l9", "xray-1", 500, 600)]))
    reopened.handle_read(CardRead(uid(5), "sim", "simulated", 0.0))
    last = json.loads(reopened.store.all_events()[-1].payload)
    assert last["station_seq"] == len(ev) + 1
    assert HLCTimestamp.from_text(last["hlc"]) > hlcs[-1]


def test_ack_settles_rejects_are_not_resent_and_batches_decode(tmp_path):
    st = make_station(tmp_path)
    for i in (1, 2, 3, 99):
        tap(st, i)
    rows = st.store.unacked(0, 500)
    batch = decode(EventBatch, build_batch("st-1", "2026-11-27T01:00:00+00:00", rows))
    assert [e.station_seq for e in batch.events] == [1, 2, 3, 4]
    ack = Ack(
        station_id="st-1",
        acked_through=3,
        rejects=[
            EventReject(
                station_seq=2,
                event_id=batch.events[1].event_id,
                reason="visit_cancelled",
                message_ko="취소됨",
                message_en="cancelled",
            )
        ],
        central_time=datetime(2026, 11, 27, 0, 59, 58, tzinfo=UTC),
        central_hlc="001795741200500.000000.central",
    )
    assert st.apply_ack(ack) == 3
    assert [r.station_seq for r in st.store.unacked(0, 500)] == [4]
    assert st.outbox_depth == 1
    assert st.clock_offset_ms == 2000
    reason = st.store.conn.execute(
        "SELECT reject_reason FROM outbox WHERE station_seq = 2"
    ).fetchone()[0]
    assert reason == "visit_cancelled"
    # The rejected check-in no longer counts as a local check-in.
    assert 2 not in st.cache.local
    # A repeated (older) ack changes nothing.
    assert st.apply_ack(ack) == 0


def test_reader_health_changes_become_events_for_central(tmp_path):
    st = make_station(tmp_path)
    tap(st, 1)
    health = ReaderHealth(name="front", driver="pcsc", status="disconnected", detail="unplugged")
    assert st.record_reader_health(health)
    last = events(st)[-1]
    assert (last["kind"], last["station_seq"], last["status"]) == (
        "reader_health",
        2,
        "disconnected",
    )
    assert st.outbox_depth == 2


def test_an_ack_beyond_our_seqs_moves_unacked_events_above_it(tmp_path):
    # A wiped station database: central already holds seqs 1..50 of this station id.
    st = make_station(tmp_path)
    for i in (1, 2, 3):
        tap(st, i)
    ack = Ack(
        station_id="st-1",
        acked_through=50,
        central_time=datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
        central_hlc="001795741200500.000000.central",
    )
    assert st.apply_ack(ack) == 0
    rows = st.store.unacked(0, 500)
    assert [r.station_seq for r in rows] == [51, 52, 53]
    assert [json.loads(r.payload)["station_seq"] for r in rows] == [51, 52, 53]
    assert sorted(st.cache.local) == [51, 52, 53]
    assert st.outbox_depth == 3
    tap(st, 4)
    assert st.store.all_events()[-1].station_seq == 54
    batch = decode(EventBatch, build_batch("st-1", "2026-11-27T01:00:00+00:00", rows))
    assert [e.station_seq for e in batch.events] == [51, 52, 53]


def _ack(through: int) -> Ack:
    return Ack(
        station_id="st-1",
        acked_through=through,
        central_time=datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
        central_hlc="001795741200500.000000.central",
    )


def test_after_a_lost_database_the_first_ack_moves_new_events_above_centrals_seqs(tmp_path):
    # The station's file was garbled: nothing salvaged, the seq counter is lost. Central
    # holds seq 1 of the old database, so our new seq 1 looks like its old event to it.
    path = tmp_path / "st.sqlite3"
    path.write_bytes(b"\x5a" * 8192)
    store = StationStore(path)
    st = Station("st-1", store, SITE_KEY, location_node="st-1", wall=Clock())
    assert st.alarms == {"db_recovered", "db_salvage_failed"}
    for doc in (rooms(), config(), routes(), cards(20)):
        st.apply_directory(doc, encode(doc).decode())
    st.apply_lease(lease("st-1", 1, [("l1", "xray-1", 101, 110)]))
    assert tap(st, 1).kind == "checked_in"
    event_id = st.store.all_events()[0].event_id
    # Central answers with its old watermark, which covers our seq 1: not settled, moved.
    assert st.apply_ack(_ack(1)) == 0
    rows = st.store.unacked(0, 10)
    assert [(r.station_seq, r.event_id) for r in rows] == [(2, event_id)]
    assert json.loads(rows[0].payload)["station_seq"] == 2
    assert sorted(st.cache.local) == [2]
    # From now on acks are trusted as usual, also after a restart.
    assert st.apply_ack(_ack(2)) == 1
    st.store.close()
    again = Station("st-1", StationStore(path), SITE_KEY, wall=Clock())
    assert again.alarms == set()
    assert not again.seq_unverified
    assert again.next_seq == 3


def test_a_salvaged_outbox_keeps_its_seqs_and_acks_settle_normally(tmp_path):
    path = tmp_path / "st.sqlite3"
    st = make_station(tmp_path)
    tap(st, 1)
    tap(st, 2)
    st.store.close()
    # Damage a page the outbox does not use: the cached directory (central sends it again).
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'directory'").fetchone()
    conn.close()
    with path.open("r+b") as f:
        f.seek((root[0] - 1) * page_size)
        f.write(b"\x5a" * page_size)
    st = Station("st-1", StationStore(path), SITE_KEY, wall=Clock())
    assert st.alarms == {"db_recovered"}
    assert not st.seq_unverified
    assert [r.station_seq for r in st.store.unacked(0, 10)] == [1, 2]
    assert st.next_seq == 3
    assert st.cache.cards == {}
    assert st.apply_ack(_ack(1)) == 1
    assert [r.station_seq for r in st.store.unacked(0, 10)] == [2]
