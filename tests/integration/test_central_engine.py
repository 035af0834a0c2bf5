"""The queue engine's rules, on SQLite and on PostgreSQL (every test runs on both)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from central.engine import Rejected
from central.store.schema import queue_entries
from protocol.codec import decode
from protocol.journey import State, Trigger
from protocol.messages import RoomQueueSnapshot
from tests.support.central_db import *  # noqa: F403
from tests.support.central_db import DAY, make_engine, small_hospital

pytestmark = pytest.mark.integration


def rejected(fn, *args, **kwargs) -> Rejected:
    with pytest.raises(Rejected) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.reason
    assert err.message_ko
    assert err.message_en
    return err


def load(engine, visits, **kw):
    engine.load(small_hospital(visits, **kw))


def waiting_order(engine, room):
    return [e.visit_id for e in engine.room_snapshot(room).waiting]


def test_a_visit_walks_its_steps_then_pays(engine):
    load(engine, {"v1": ["r1", "r2"]})
    r = engine.check_in("v1", actor="nurse")
    assert (r.visit.state, r.visit.room_id, r.visit.ticket_number) == (State.WAITING, "r1", 1)
    assert r.changes.rooms == {"r1"}
    assert r.changes.cards_changed
    r = engine.call_next("r1", actor="nurse")
    assert r.visit.state is State.CALLED
    assert r.visit.desk == "1"
    [call] = r.changes.announcements
    assert (call.room_id, call.ticket_number, call.masked_name, call.call_count) == (
        "r1",
        1,
        "김*각",
        1,
    )
    assert engine.start("v1", actor="nurse").visit.state is State.ONGOING
    r = engine.complete("v1", actor="nurse")
    # the next step's room is queued automatically
    assert (r.visit.state, r.visit.room_id, r.visit.current_step) == (State.WAITING, "r2", 1)
    assert r.changes.rooms == {"r1", "r2"}
    assert r.visit.steps[0].done
    assert not r.visit.steps[1].done
    engine.call_next("r2", actor="n")
    engine.start("v1", actor="n")
    r = engine.complete("v1", actor="n")
    assert r.visit.state is State.PAYMENT
    assert r.visit.room_id is None
    assert engine.pay("v1", actor="cashier").visit.state is State.FINISHED
    trail = [(a.action, a.trigger, a.from_state, a.to_state) for a in engine.audit(visit_id="v1")]
    assert trail == [
        ("register", "emr", "UNREGISTERED", "REGISTERED"),
        ("check_in", "staff", "REGISTERED", "WAITING"),
        ("call", "staff", "WAITING", "CALLED"),
        ("start", "staff", "CALLED", "ONGOING"),
        ("complete", "staff", "ONGOING", "COMPLETED"),
        ("next_step", "system", "COMPLETED", "WAITING"),
        ("call", "staff", "WAITING", "CALLED"),
        ("start", "staff", "CALLED", "ONGOING"),
        ("complete", "staff", "ONGOING", "COMPLETED"),
        ("to_payment", "system", "COMPLETED", "PAYMENT"),
        ("pay", "staff", "PAYMENT", "FINISHED"),
    ]
    assert engine.room_snapshot("r1").served_today == 1


def test_every_change_bumps_the_room_version_and_a_refusal_writes_nothing(engine):
    load(engine, {"v1": ["r1"], "v2": ["r1"]})
    v0 = engine.room_snapshot("r1").version
    engine.check_in("v1", actor="n")
    v1 = engine.room_snapshot("r1").version
    assert v1 == v0 + 1
    audit_before = len(engine.audit(limit=1000))
    rejected(engine.start, "v2", actor="n")  # not called yet
    assert engine.room_snapshot("r1").version == v1
    assert len(engine.audit(limit=1000)) == audit_before


def test_call_next_takes_priority_class_then_arrival_order(engine, clock):
    load(engine, {f"v{i}": ["r1"] for i in range(1, 5)}, priorities={"v3": 0, "v4": 3})
    for i in (1, 2, 3, 4):
        engine.check_in(f"v{i}", actor="n")
        clock.advance(seconds=1)
    assert waiting_order(engine, "r1") == ["v3", "v4", "v1", "v2"]
    called = []
    for _ in range(4):
        v = engine.call_next("r1", actor="n").visit
        called.append(v.visit_id)
        engine.start(v.visit_id, actor="n")
    assert called == ["v3", "v4", "v1", "v2"]
    err = rejected(engine.call_next, "r1", actor="n")
    assert err.reason == "queue_empty"


def test_one_called_patient_per_desk(engine):
    load(engine, {"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]}, capacity=2)
    for v in ("v1", "v2", "v3"):
        engine.check_in(v, actor="n")
    engine.call_next("r1", actor="n", desk="A")
    err = rejected(engine.call_next, "r1", actor="n", desk="A")
    assert err.reason == "desk_busy"
    assert err.status == 409
    assert engine.call_next("r1", actor="n", desk="B").visit.visit_id == "v2"
    # the database refuses two called patients at one desk even if the check were skipped
    with engine.db.read() as conn:
        row = conn.execute(select(queue_entries).where(queue_entries.c.visit_id == "v3")).one()
    with pytest.raises(IntegrityError), engine.db.write() as conn:
        conn.execute(
            queue_entries.update()
            .where(queue_entries.c.entry_id == row.entry_id)
            .values(state="CALLED", desk="A")
        )


def test_call_specific_recall_and_miss_goes_back_after_n_others(central_db, clock):
    engine = make_engine(central_db, clock, missed_requeue_after=2, no_show_after_calls=10)
    load(engine, {f"v{i}": ["r1"] for i in range(1, 6)})
    for i in range(1, 6):
        engine.check_in(f"v{i}", actor="n")
        clock.advance(seconds=1)
    r = engine.call("v3", actor="n")  # out of order
    assert r.visit.state is State.CALLED
    r = engine.recall("v3", actor="n")
    assert r.visit.call_count == 2
    assert r.changes.announcements[0].call_count == 2
    r = engine.miss("v3", actor="n")
    assert r.visit.state is State.WAITING
    assert waiting_order(engine, "r1") == ["v1", "v2", "v3", "v4", "v5"]
    # v1 is called and missed: back in line after 2 others
    engine.call_next("r1", actor="n")
    engine.miss("v1", actor="n")
    assert waiting_order(engine, "r1") == ["v2", "v3", "v1", "v4", "v5"]
    # missed again and again: the order keys squeeze in without rewriting anyone else
    for _ in range(3):
        engine.call("v1", actor="n")
        engine.miss("v1", actor="n")
    assert waiting_order(engine, "r1")[2] == "v1"
    positions = [e.position for e in engine.room_snapshot("r1").waiting]
    assert positions == [1, 2, 3, 4, 5]


def test_no_show_after_k_calls_and_rejoin_at_the_back(central_db, clock):
    engine = make_engine(central_db, clock, missed_requeue_after=1, no_show_after_calls=2)
    load(engine, {"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]})
    for v in ("v1", "v2", "v3"):
        engine.check_in(v, actor="n")
        clock.advance(seconds=1)
    engine.call_next("r1", actor="n")
    engine.recall("v1", actor="n")  # called twice now
    r = engine.miss("v1", actor="n")
    assert r.visit.state is State.NO_SHOW
    assert r.visit.room_id is None
    assert waiting_order(engine, "r1") == ["v2", "v3"]
    assert engine.audit(visit_id="v1")[-1].action == "no_show"
    # came back late: rejoins at the back, same ticket number
    clock.advance(seconds=5)
    r = engine.check_in("v1", actor="n")
    assert r.visit.state is State.WAITING
    assert r.visit.ticket_number == 1
    assert engine.audit(visit_id="v1")[-1].action == "rejoin"
    assert waiting_order(engine, "r1") == ["v2", "v3", "v1"]
    # explicit no-show too
    engine.call_next("r1", actor="n")
    assert engine.no_show("v2", actor="n").visit.state is State.NO_SHOW


def test_transfer_keeps_priority_and_arrival_order_and_history(engine, clock):
    load(
        engine,
        {"v1": ["r1"], "v2": ["r2"], "v3": ["r2"]},
        priorities={"v1": 3},
    )
    engine.check_in("v1", actor="n")  # arrived first, in r1
    clock.advance(seconds=10)
    engine.check_in("v2", actor="n")
    engine.check_in("v3", actor="n")
    r = engine.transfer("v1", "r2", actor="n")
    assert (r.visit.room_id, r.visit.priority, r.visit.state) == ("r2", 3, State.WAITING)
    assert r.visit.steps[0].room_id == "r2"
    assert r.visit.steps[0].planned_room_id == "r1"
    assert r.changes.rooms == {"r1", "r2"}
    assert waiting_order(engine, "r2") == ["v1", "v2", "v3"]
    assert waiting_order(engine, "r1") == []
    assert engine.audit(visit_id="v1")[-1].detail == {"from_room": "r1"}
    with engine.db.read() as conn:
        history = conn.execute(
            select(queue_entries.c.room_id, queue_entries.c.state)
            .where(queue_entries.c.visit_id == "v1")
            .order_by(queue_entries.c.entry_id)
        ).all()
    assert [tuple(h) for h in history] == [("r1", "TRANSFERRED"), ("r2", "WAITING")]
    assert rejected(engine.transfer, "v1", "r2", actor="n").reason == "same_room"
    assert rejected(engine.transfer, "v1", "nope", actor="n").reason == "unknown_room"
    engine.set_room_open("r3", False, actor="admin")
    assert rejected(engine.transfer, "v1", "r3", actor="n").reason == "room_closed"


def test_hold_keeps_the_place_and_cancel_leaves_the_queue(engine, clock):
    load(engine, {"v1": ["r1"], "v2": ["r1"], "v3": ["r1"]})
    for v in ("v1", "v2", "v3"):
        engine.check_in(v, actor="n")
        clock.advance(seconds=1)
    assert engine.hold("v1", actor="n").visit.queue_state == "ON_HOLD"
    assert waiting_order(engine, "r1") == ["v2", "v3"]
    engine.release("v1", actor="n")
    assert waiting_order(engine, "r1") == ["v1", "v2", "v3"]
    r = engine.cancel("v2", actor="n")
    assert r.visit.state is State.CANCELLED
    assert r.visit.room_id is None
    assert waiting_order(engine, "r1") == ["v1", "v3"]
    err = rejected(engine.check_in, "v2", actor="n")
    assert err.reason == "visit_closed"


def test_rejections_have_reasons_and_both_languages(engine):
    load(engine, {"v1": ["r1"], "v2": ["r2"]})
    assert rejected(engine.visit, "nope").reason == "unknown_visit"
    assert rejected(engine.visit_by_card, "04AABBCCDD").reason == "unknown_card"
    assert rejected(engine.call_next, "nope", actor="n").status == 404
    err = rejected(engine.start, "v1", actor="n")
    assert err.reason == "invalid_transition"
    assert "REGISTERED" in err.message_en
    engine.set_room_open("r2", False, actor="admin")
    err = rejected(engine.check_in, "v2", actor="n")
    assert err.reason == "room_closed"
    assert "r2" in err.message_en
    assert err.message_ko == "지금은 운영하지 않는 진료실입니다."
    err = rejected(engine.check_in, "v1", actor="n", room_id="r2")
    assert err.reason == "wrong_room"
    err = rejected(engine.check_in, "v1", actor="phone", trigger=Trigger.EMR)
    assert err.reason == "trigger_not_allowed"
    engine.check_in("v1", actor="n")
    assert rejected(engine.check_in, "v1", actor="n").reason == "already_queued"
    assert rejected(engine.pay, "v1", actor="n").reason == "invalid_transition"


def test_card_lookup_and_phone_check_in(engine):
    from tests.support.central_db import uid_for

    load(engine, {"v1": ["r1"]})
    assert engine.visit_by_card(uid_for(1)).visit_id == "v1"
    r = engine.check_in_card(uid_for(1), actor="desk-reader")
    assert r.visit.state is State.WAITING
    engine.cancel("v1", actor="n")
    assert engine.visit_by_card(uid_for(1)).state is State.CANCELLED


def test_phone_login_finds_todays_visit(engine):
    from datetime import date

    from central.engine.loader import PatientIn

    data = small_hospital({"v1": ["r1"], "v2": ["r1"]})
    data.patients[0] = PatientIn(
        registration_no="R00001",
        name="김민각",
        birth_date=date(1950, 3, 2),
        phone_last4="1234",
        card_uids=[],
    )
    engine.load(data)
    [found] = engine.visits_for_phone_login("1234", date(1950, 3, 2))
    assert found.visit_id == "v1"
    assert engine.visits_for_phone_login("1234", date(1950, 3, 3)) == []


def test_snapshot_masks_names_estimates_waits_and_is_cached_per_version(engine, clock):
    load(engine, {f"v{i}": ["r1"] for i in range(1, 4)})
    for i in range(1, 4):
        engine.check_in(f"v{i}", actor="n")
        clock.advance(seconds=1)
    engine.call_next("r1", actor="n")
    snap = engine.room_snapshot("r1")
    assert [e.visit_id for e in snap.now_calling] == ["v1"]
    assert [(e.position, e.estimated_wait_s) for e in snap.waiting] == [(1, 300), (2, 600)]
    assert snap.estimated_wait_s == 900
    assert all("*" in e.masked_name for e in snap.waiting + snap.now_calling)
    assert engine.room_snapshot("r1") is snap  # same version: built once
    assert decode(RoomQueueSnapshot, engine.room_snapshot_json("r1")) == snap
    engine.start("v1", actor="n")
    again = engine.room_snapshot("r1")
    assert again.version == snap.version + 1
    assert [e.visit_id for e in again.ongoing] == ["v1"]


def test_directory_documents(engine):
    from tests.support.central_db import hash_for, uid_for

    load(engine, {"v1": ["r1", "r2"], "v2": ["r3"]})
    engine.check_in("v1", actor="n")
    cards = engine.directory_cards()
    by_visit = {c.visit_id: c for c in cards.cards}
    assert by_visit["v1"].card_hash == hash_for(1)
    assert by_visit["v1"].ticket_number == 1
    assert by_visit["v1"].state is State.WAITING
    assert [s.room_id for s in by_visit["v1"].steps] == ["r1", "r2"]
    text = cards.model_dump_json()
    assert uid_for(1) not in text
    assert "김민각" not in text
    assert engine.directory_cards() is cards  # cached per version
    engine.check_in("v2", actor="n")
    assert engine.directory_cards().version == cards.version + 1
    rooms = engine.directory_rooms()
    assert [r.room_id for r in rooms.rooms] == ["r1", "r2", "r3"]
    engine.set_room_open("r1", False, actor="admin")
    rooms2 = engine.directory_rooms()
    assert rooms2.version == rooms.version + 1
    assert not rooms2.rooms[0].open
    config = engine.directory_config("https://h.example/p")
    assert (config.timezone, config.service_day, config.day_starts_at) == (
        "Asia/Seoul",
        DAY,
        "04:00",
    )


def test_ticket_numbers_are_unique_per_room_and_day_in_the_database(engine):
    load(engine, {"v1": ["r1"], "v2": ["r1"]})
    engine.check_in("v1", actor="n")
    with engine.db.read() as conn:
        row = dict(
            conn.execute(select(queue_entries).where(queue_entries.c.visit_id == "v1"))
            .one()
            ._mapping
        )
    row.pop("entry_id")
    row["visit_id"] = "v2"
    row["state"] = "DONE"
    with pytest.raises(IntegrityError), engine.db.write() as conn:
        conn.execute(insert(queue_entries).values(**row))


def test_loading_is_idempotent_and_all_or_nothing(engine):
    data = small_hospital({"v1": ["r1"]})
    report, changes = engine.load(data)
    assert report.counts["visits"]["created"] == 1
    assert changes.rooms_directory_changed
    report, _ = engine.load(data)
    assert report.counts["visits"] == {"created": 0, "updated": 0, "unchanged": 1}
    bad = small_hospital({"v1": ["r1"], "v9": ["r1"]})
    bad.visits[1].steps[0].room_id = "nowhere"
    err = rejected(engine.load, bad)
    assert err.reason == "invalid_input"
    assert "visits[1].steps[0]" in err.message_en
    assert rejected(engine.visit, "v9").reason == "unknown_visit"


def test_a_publish_round_reads_its_rooms_together_and_one_bad_room_spoils_none(engine):
    engine.load(small_hospital({"v1": ["r1"], "v2": ["r2"], "v3": ["r3"]}))
    for v in ("v1", "v2", "v3"):
        engine.check_in(v, actor="desk")
    got = list(engine.room_snapshots_built(["r1", "no-such-room", "r2", "r3"]))
    assert [room for room, _ in got] == ["r1", "no-such-room", "r2", "r3"]
    failed = got[1][1]
    assert isinstance(failed, Rejected)
    assert failed.reason == "unknown_room"
    for room, built in (got[0], got[2], got[3]):
        assert not isinstance(built, Exception)
        # the same bytes a reader of that room gets, and its one waiting patient
        assert built.data == engine.room_snapshot_json(room)
        assert len(decode(RoomQueueSnapshot, built.data).waiting) == 1
