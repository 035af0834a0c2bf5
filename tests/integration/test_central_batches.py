"""Station batches, acks, ticket leases and the service day, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from central.store.schema import events, queue_entries
from protocol.journey import State
from protocol.messages import LeaseRequestEvent, ReaderHealthEvent, UnknownCardEvent
from tests.support.central_db import *  # noqa: F403
from tests.support.central_db import (
    DAY,
    START,
    batch,
    check_in,
    hash_for,
    hlc,
    make_engine,
    small_hospital,
    tap,
)

pytestmark = pytest.mark.integration


def lease_block(engine, station, room, day=DAY):
    lease, _changes = engine.lease(station)
    return next(b for b in lease.blocks if b.room_id == room and b.service_day == day)


def test_a_batch_applies_check_ins_with_station_numbers_and_acks(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r2"]}))
    block = lease_block(engine, "st-a", "r1")
    res = engine.apply_batch(
        batch(
            "st-a",
            check_in(1, "v1", 1, "r1", ticket=block.first, lease_id=block.lease_id, at_ms=10),
            check_in(2, "v2", 2, "r1", ticket=block.first + 1, lease_id=block.lease_id, at_ms=20),
            check_in(3, "v3", 3, "r2", ticket=None, at_ms=30),  # block ran out offline
            tap(4, 1),
        )
    )
    assert res.ack.acked_through == 4
    assert res.ack.rejects == []
    assert res.applied == 4
    assert res.changes.rooms == {"r1", "r2"}
    assert [(e.visit_id, e.ticket_number) for e in engine.room_snapshot("r1").waiting] == [
        ("v1", block.first),
        ("v2", block.first + 1),
    ]
    v3 = engine.visit("v3")
    assert v3.state is State.WAITING
    assert v3.ticket_number is not None
    # central's own number for r2 does not collide with any station block in r2
    blocks_r2 = [b for b in engine.lease("st-a")[0].blocks if b.room_id == "r2"]
    assert all(not b.first <= v3.ticket_number <= b.last for b in blocks_r2)
    audit = engine.audit(visit_id="v1")[-1]
    assert (audit.trigger, audit.actor) == ("tap", "station:st-a")
    assert audit.event_id


def test_replayed_duplicate_and_reordered_batches_are_harmless(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]}))
    b1 = batch("st-a", check_in(1, "v1", 1, "r1", at_ms=1), check_in(2, "v2", 2, "r1", at_ms=2))
    b2 = batch("st-a", check_in(3, "v3", 3, "r1", at_ms=3))
    # the second batch arrives first: applied, but not acked past the gap
    first = engine.apply_batch(b2)
    assert first.ack.acked_through == 0
    assert first.applied == 1
    second = engine.apply_batch(b1)
    assert second.ack.acked_through == 3
    replay = engine.apply_batch(b1)
    assert (replay.ack.acked_through, replay.applied, replay.duplicates) == (3, 0, 2)
    assert replay.changes.rooms == frozenset()
    overlap = engine.apply_batch(batch("st-a", *b1.events, *b2.events))
    assert overlap.duplicates == 3
    with engine.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 3
        assert conn.execute(select(func.count()).select_from(queue_entries)).scalar() == 3
    # queue order is by HLC, not by arrival at central
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v2", "v3"]


def test_a_batch_after_a_gap_is_not_acked_past_the_gap(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"]}))
    res = engine.apply_batch(batch("st-a", tap(1, 1)))
    assert res.ack.acked_through == 1
    res = engine.apply_batch(batch("st-a", tap(5, 1), tap(6, 2)))
    assert res.ack.acked_through == 1
    res = engine.apply_batch(batch("st-a", tap(2, 1), tap(3, 1)))
    assert res.ack.acked_through == 3  # 4 is still missing
    res = engine.apply_batch(batch("st-a", tap(4, 1)))
    assert res.ack.acked_through == 6
    assert engine.stations()[0].acked_through == 6


def test_one_bad_event_is_rejected_and_the_good_ones_applied(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r2"], "v4": ["r1"]}))
    engine.set_room_open("r2", False, actor="admin")
    engine.check_in("v4", actor="n")
    engine.cancel("v4", actor="n")
    res = engine.apply_batch(
        batch(
            "st-a",
            check_in(1, "v1", 1, "r1"),
            check_in(2, "nope", 2, "r1"),  # unknown visit
            check_in(3, "v2", 1, "r1"),  # patient 1's card, visit of patient 2
            check_in(4, "v3", 3, "r2"),  # room closed
            check_in(5, "v4", 4, "r1"),  # finished (cancelled) visit
            check_in(6, "v1", 1, "r1"),  # already queued
            check_in(7, "v2", 2, "r3"),  # wrong room
            check_in(8, "v2", 2, "r1", step_index=1),  # wrong step
            UnknownCardEvent(
                kind="unknown_card",
                event_id=uuid.uuid4(),
                station_seq=9,
                hlc=hlc(9),
                wall_time=START,
                card_hash="f" * 64,
            ),
            ReaderHealthEvent(
                kind="reader_health",
                event_id=uuid.uuid4(),
                station_seq=10,
                hlc=hlc(10),
                wall_time=START,
                reader="front",
                status="ok",
            ),
            check_in(11, "v2", 2, "r1"),
        )
    )
    assert res.ack.acked_through == 11
    reasons = {r.station_seq: r.reason for r in res.ack.rejects}
    assert reasons == {
        2: "unknown_visit",
        3: "card_mismatch",
        4: "room_closed",
        5: "card_finished",
        6: "already_queued",
        7: "wrong_room",
        8: "wrong_step",
    }
    assert all(r.message_ko and r.message_en for r in res.ack.rejects)
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v2"]
    # a replay reports the same rejects again, and applies nothing
    replay = engine.apply_batch(
        batch("st-a", check_in(2, "nope", 2, "r1"), check_in(4, "v3", 3, "r2"))
    )
    assert {r.station_seq: r.reason for r in replay.ack.rejects} == {
        2: "unknown_visit",
        4: "room_closed",
    }
    outcomes = {e.station_seq: e.outcome for e in engine.events(station_id="st-a")}
    assert outcomes[1] == "applied"
    assert outcomes[2] == "rejected"
    assert outcomes[9] == "recorded"


def test_an_event_id_used_twice_is_rejected_but_settled(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"]}))
    same = uuid.uuid4()
    res = engine.apply_batch(
        batch("st-a", check_in(1, "v1", 1, "r1", event_id=same), check_in(2, "v2", 2, "r1"))
    )
    assert res.ack.acked_through == 2
    res = engine.apply_batch(batch("st-b", check_in(1, "v2", 2, "r1", event_id=same)))
    assert res.ack.acked_through == 1
    assert [r.reason for r in res.ack.rejects] == ["duplicate_event_id"]


def test_station_numbers_outside_the_lease_get_a_central_number(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]}))
    a = lease_block(engine, "st-a", "r1")
    b = lease_block(engine, "st-b", "r1")
    assert a.last < b.first or b.last < a.first  # blocks never overlap
    res = engine.apply_batch(
        batch(
            "st-a",
            check_in(1, "v1", 1, "r1", ticket=b.first, lease_id=None),  # st-b's number
            check_in(2, "v2", 2, "r1", ticket=a.first, lease_id=a.lease_id),
            check_in(3, "v3", 3, "r1", ticket=a.first, lease_id=a.lease_id),  # reused
        )
    )
    assert res.ack.rejects == []
    numbers = {v: engine.visit(v).ticket_number for v in ("v1", "v2", "v3")}
    assert numbers["v2"] == a.first
    assert len(set(numbers.values())) == 3
    assert not a.first <= numbers["v1"] <= a.last
    assert not b.first <= numbers["v1"] <= b.last


def test_leases_refill_at_the_low_water_mark_and_on_request(central_db, clock):
    engine = make_engine(central_db, clock, lease_block_size=5, lease_low_water=2)
    engine.load(small_hospital({f"v{i}": ["r1"] for i in range(1, 8)}))
    lease, changes = engine.lease("st-a")
    assert changes.leases == {"st-a"}
    days = {b.service_day for b in lease.blocks}
    assert days == {DAY, DAY + timedelta(days=1)}  # leased a day ahead for offline nights
    assert {(b.room_id, b.last - b.first + 1) for b in lease.blocks} == {
        ("r1", 5),
        ("r2", 5),
        ("r3", 5),
    }
    again, changes = engine.lease("st-a")
    assert again.version == lease.version
    assert changes.leases == frozenset()
    block = next(b for b in lease.blocks if b.room_id == "r1" and b.service_day == DAY)
    events = [
        check_in(i, f"v{i}", i, "r1", ticket=block.first + i - 1, lease_id=block.lease_id)
        for i in range(1, 5)
    ]
    res = engine.apply_batch(batch("st-a", *events))
    assert res.ack.rejects == []
    refilled, changes = engine.lease("st-a")  # 1 left < low water 2: a new block
    assert changes.leases == {"st-a"}
    assert refilled.version == lease.version + 1
    r1_today = sorted(
        (b.first, b.last) for b in refilled.blocks if b.room_id == "r1" and b.service_day == DAY
    )
    assert len(r1_today) == 2
    # an explicit request from the station is honoured (and republished)
    req = LeaseRequestEvent(
        kind="lease_request",
        event_id=uuid.uuid4(),
        station_seq=5,
        hlc=hlc(5),
        wall_time=START,
        room_ids=["r2", "nope"],
    )
    res = engine.apply_batch(batch("st-a", req))
    assert res.ack.acked_through == 5
    assert res.changes.leases == {"st-a"}
    # every block of every station and central in one room and day is disjoint
    engine.lease("st-b")
    engine.check_in("v5", actor="n")
    numbers = []
    for station in ("st-a", "st-b"):
        numbers += [
            n
            for b in engine.lease(station)[0].blocks
            if b.room_id == "r1" and b.service_day == DAY
            for n in range(b.first, b.last + 1)
        ]
    numbers.append(engine.visit("v5").ticket_number)
    assert len(numbers) == len(set(numbers))


def test_unknown_station_registers_on_its_first_batch_and_gets_a_lease(engine):
    engine.load(small_hospital({"v1": ["r1"]}))
    res = engine.apply_batch(batch("st-new", tap(1, 1, node="st-new")))
    assert res.changes.leases == {"st-new"}
    assert "st-new" in {s.station_id for s in engine.stations()}
    assert engine.lease("st-new")[0].blocks


def test_station_clock_in_the_future_or_before_the_day_is_not_trusted_for_order(engine, clock):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]}))
    engine.check_in("v1", actor="n")  # central time: START
    clock.advance(seconds=1)
    far_future = check_in(1, "v2", 2, "r1", at_ms=3_600_000)  # an hour ahead
    booted_1970 = check_in(2, "v3", 3, "r1").model_copy(
        update={"hlc": "000000000001000.000000.st-a"}
    )
    engine.apply_batch(batch("st-a", far_future, booted_1970))
    # both go behind v1 (central's clock), not before everyone
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v2", "v3"]


def test_the_service_day_turns_at_four_in_the_morning_in_seoul(engine, clock):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"]}))
    engine.check_in("v1", actor="n")
    before = engine.room_snapshot("r1")
    # 01:30 in Seoul the next night: still the same service day
    clock.set(START + timedelta(hours=16))
    assert engine.service_day() == DAY
    assert engine.roll_service_day().empty
    # 04:00 in Seoul: a new day; yesterday's queue is gone from the board
    clock.set(START + timedelta(hours=18, minutes=31))
    tomorrow = DAY + timedelta(days=1)
    assert engine.service_day() == tomorrow
    changes = engine.roll_service_day()
    assert "r1" in changes.rooms
    assert changes.cards_changed
    snap = engine.room_snapshot("r1")
    assert snap.service_day == tomorrow
    assert snap.waiting == []
    assert snap.version > before.version
    # yesterday's unfinished visits were cancelled by the day-end sweep, with audit rows
    assert engine.visit("v1").state is State.CANCELLED
    assert engine.audit(visit_id="v2")[-1].actor == "day-end"
    assert engine.roll_service_day().empty


def test_an_offline_check_in_from_yesterday_is_refused_after_the_day_turned(engine, clock):
    engine.load(small_hospital({"v1": ["r1"], "v0": ["r2"]}))
    assert engine.check_in("v0", actor="n").visit.ticket_number == 1
    tomorrow = DAY + timedelta(days=1)
    engine.load(small_hospital({"w1": ["r1"], "w0": ["r2"]}, day=tomorrow))
    clock.set(START + timedelta(days=1))
    # numbers restart per service day
    assert engine.check_in("w0", actor="n").visit.ticket_number == 1
    res = engine.apply_batch(
        batch(
            "st-a",
            check_in(1, "v1", 1, "r1", day=DAY),  # tapped at 03:55, synced at 09:30
            check_in(2, "w1", 1, "r1", day=DAY, at_ms=86_400_000),  # station day was stale
        )
    )
    assert [(r.station_seq, r.reason) for r in res.ack.rejects] == [(1, "stale_service_day")]
    assert res.ack.acked_through == 2
    w1 = engine.visit("w1")
    assert w1.state is State.WAITING
    assert w1.service_day == tomorrow
    assert w1.ticket_number


def test_disabled_station_events_are_refused(engine):
    from central.store.schema import stations

    engine.load(small_hospital({"v1": ["r1"]}))
    with engine.db.write() as conn:
        conn.execute(stations.update().where(stations.c.station_id == "st-a").values(enabled=False))
    res = engine.apply_batch(batch("st-a", check_in(1, "v1", 1, "r1")))
    assert [r.reason for r in res.ack.rejects] == ["station_disabled"]
    assert engine.visit("v1").state is State.REGISTERED
    assert hash_for(1)


def test_dead_letters_keep_an_excerpt(engine):
    first = engine.record_dead_letter(
        topic="nfch/v1/station/st-a/events",
        reason="not_json",
        detail="line 1 column 1",
        payload=b"\xff" * 5000,
        station_id="st-a",
    )
    [row] = engine.dead_letters()
    assert row.id == first
    assert row.reason == "not_json"
    assert len(row.payload_excerpt) == 2000


@contextmanager
def queue_insert_fails_for(engine, visit_id):
    """A constraint the engine's checks do not know: queueing `visit_id` raises IntegrityError."""
    with engine.db.write() as conn:
        if engine.db.is_sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON queue_entries "
                    f"WHEN NEW.visit_id = '{visit_id}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "ALTER TABLE queue_entries ADD CONSTRAINT boom "
                    f"CHECK (visit_id <> '{visit_id}') NOT VALID"
                )
            )
    try:
        yield
    finally:
        with engine.db.write() as conn:
            if engine.db.is_sqlite:
                conn.execute(text("DROP TRIGGER boom"))
            else:
                conn.execute(text("ALTER TABLE queue_entries DROP CONSTRAINT boom"))


def test_a_constraint_the_checks_missed_rejects_one_event_not_the_batch(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]}))
    with queue_insert_fails_for(engine, "v2"):
        res = engine.apply_batch(
            batch(
                "st-a",
                check_in(1, "v1", 1, "r1"),
                check_in(2, "v2", 2, "r1"),
                check_in(3, "v3", 3, "r1"),
            )
        )
    assert res.ack.acked_through == 3
    assert [(r.station_seq, r.reason) for r in res.ack.rejects] == [(2, "invalid_input")]
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v3"]
    assert engine.visit("v2").state is State.REGISTERED


# ------------------------------------------------------------------ group commit across stations


def _count_commits(engine):
    from sqlalchemy import event as sa_event

    commits = []
    sa_event.listen(engine.db.engine, "commit", lambda conn: commits.append(1))
    return commits


def test_several_stations_batches_commit_once_and_each_gets_its_own_ack(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r2"], "v4": ["r2"]}))
    a = batch("st-a", check_in(1, "v1", 1, "r1", at_ms=1, node="st-a"))
    b = batch(
        "st-b",
        check_in(1, "v2", 2, "r1", at_ms=2, node="st-b"),
        check_in(2, "v3", 3, "r2", at_ms=3, node="st-b"),
    )
    c = batch("st-c", tap(5, 4, node="st-c"))  # after a gap: applied, not acked
    commits = _count_commits(engine)
    results = engine.apply_batches([a, b, c])
    assert len(commits) == 1
    assert [(r.ack.station_id, r.ack.acked_through, r.applied) for r in results] == [
        ("st-a", 1, 1),
        ("st-b", 2, 2),
        ("st-c", 0, 1),
    ]
    assert results[0].changes.rooms == {"r1", "r2"}
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v2"]
    assert [e.visit_id for e in engine.room_snapshot("r2").waiting] == ["v3"]
    # replayed together with new events: duplicates settled, the new one applied
    again = engine.apply_batches(
        [a, batch("st-b", *b.events, check_in(3, "v4", 4, "r2", at_ms=4, node="st-b"))]
    )
    assert [(r.ack.acked_through, r.applied, r.duplicates) for r in again] == [
        (1, 0, 1),
        (3, 1, 2),
    ]
    with engine.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(queue_entries)).scalar() == 4


def test_one_batch_per_station_per_transaction(engine):
    engine.load(small_hospital({"v1": ["r1"]}))
    with pytest.raises(ValueError, match="one batch per station"):
        engine.apply_batches([batch("st-a", tap(1, 1)), batch("st-a", tap(2, 1))])


def test_a_constraint_in_one_station_s_batch_does_not_hold_back_the_others(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]}))
    with queue_insert_fails_for(engine, "v2"):
        results = engine.apply_batches(
            [
                batch("st-a", check_in(1, "v1", 1, "r1", at_ms=1)),
                batch("st-b", check_in(1, "v2", 2, "r1", at_ms=2, node="st-b")),
                batch("st-c", check_in(1, "v3", 3, "r1", at_ms=3, node="st-c")),
            ]
        )
    assert [r.ack.acked_through for r in results] == [1, 1, 1]
    assert [[x.reason for x in r.ack.rejects] for r in results] == [[], ["invalid_input"], []]
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v3"]


def test_a_visit_checked_in_twice_in_one_batch_is_queued_once(engine):
    # The batch path loads visits up front and writes entries together at the end of the
    # batch: the second check-in of v1 must still see the first one's entry.
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r2"], "v3": ["r1"]}))
    res = engine.apply_batch(
        batch(
            "st-a",
            check_in(1, "v1", 1, "r1", at_ms=1),
            check_in(2, "v2", 2, "r1", at_ms=2),  # v2's step is in r2
            check_in(3, "v1", 1, "r1", at_ms=3),
            check_in(4, "v3", 3, "r1", at_ms=4),
        )
    )
    assert res.ack.acked_through == 4
    assert [(r.station_seq, r.reason) for r in res.ack.rejects] == [
        (2, "wrong_room"),
        (3, "already_queued"),
    ]
    with engine.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(queue_entries)).scalar() == 2
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1", "v3"]
    assert engine.call_next("r1", actor="n").visit.visit_id == "v1"
    assert engine.visit("v3").state is State.WAITING
    assert engine.visit("v2").state is State.REGISTERED


def test_a_check_in_to_an_unknown_room_in_a_shared_transaction_is_refused_alone(engine):
    """One station's event names a room that does not exist (sorting before the rooms the
    transaction locked): only that event is refused; the transaction is not restarted."""
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r2"], "v3": ["r1"]}))
    a = batch("st-a", check_in(1, "v1", 1, "r1", at_ms=1, node="st-a"))
    b = batch(
        "st-b",
        check_in(1, "v3", 3, "a-gone", at_ms=2, node="st-b"),
        check_in(2, "v2", 2, "r2", at_ms=3, node="st-b"),
    )
    commits = _count_commits(engine)
    results = engine.apply_batches([a, b])
    assert len(commits) == 1
    assert [(r.ack.acked_through, r.applied) for r in results] == [(1, 1), (2, 1)]
    assert [(j.station_seq, j.reason) for j in results[1].rejects] == [(1, "wrong_room")]
    assert [e.visit_id for e in engine.room_snapshot("r1").waiting] == ["v1"]
    assert [e.visit_id for e in engine.room_snapshot("r2").waiting] == ["v2"]
