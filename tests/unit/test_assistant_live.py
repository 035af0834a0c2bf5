"""Live answers from the patient's own visit (a real engine on SQLite, the sample hospital):
place in line and wait from the room snapshot, called now, missed call, next step, where to
go (step-free when the visit needs it), payment; and never another patient's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.assistant import Assistant, load_faq
from central.clock import SystemClock
from central.engine import Engine, VisitView
from central.seed import sample_hospital
from central.store import Database
from central.wayfinding import load_map

SAMPLE_MAP = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"
STEP_FREE_VISIT = 1


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Engine, Assistant]]:
    db = Database(str(tmp_path / "central.db"))
    db.migrate()
    engine = Engine(db, site_key=b"assistant-test-key-0123456789abc", clock=SystemClock())
    # Enough patients that two share a first room whatever the day (the sample is seeded by it).
    data = sample_hospital(engine.service_day(), patients=20).data
    data.visits[STEP_FREE_VISIT] = data.visits[STEP_FREE_VISIT].model_copy(
        update={"step_free": True}
    )
    engine.load(data)
    yield engine, Assistant(load_faq(), engine, load_map(SAMPLE_MAP))
    engine.close()


def _by_room(engine: Engine) -> dict[str, list[VisitView]]:
    """Check every visit in; the visits waiting in each room, in check-in order."""
    rooms: dict[str, list[VisitView]] = {}
    for v in engine.visits():
        after = engine.check_in(v.visit_id, actor="test").visit
        assert after.room_id is not None
        rooms.setdefault(after.room_id, []).append(after)
    return rooms


def _shared_room(engine: Engine) -> list[VisitView]:
    rooms = _by_room(engine)
    return next(vs for vs in rooms.values() if len(vs) >= 2)


def _others_data(engine: Engine, me: str) -> list[str]:
    out = []
    for v in engine.visits():
        if v.visit_id != me:
            out += [v.visit_id, v.masked_name, v.patient_name, v.registration_no]
    return out


def test_wait_is_the_patients_own_place_and_estimate(world: tuple[Engine, Assistant]) -> None:
    engine, assistant = world
    _first, second = _shared_room(engine)[:2]
    snap = engine.room_snapshot(second.room_id or "")
    entry = next(e for e in snap.waiting if e.visit_id == second.visit_id)
    a = assistant.answer("얼마나 기다려야 해요?", "ko", second.visit_id, None)
    assert (a.kind, a.live) == ("wait", True)
    assert f"{second.ticket_number}번" in a.text
    assert f"앞에 {(entry.position or 0) - 1}명" in a.text
    assert entry.estimated_wait_s is not None
    assert f"약 {max(1, round(entry.estimated_wait_s / 60))}분" in a.text
    assert {s.type for s in a.sources} >= {"visit", "queue"}
    # Nothing of anyone else: not the patient ahead, not any other visit.
    dump = a.model_dump_json()
    for secret in _others_data(engine, second.visit_id):
        assert secret not in dump
    en = assistant.answer("How long is my wait?", "en", second.visit_id, None)
    assert f"number {second.ticket_number}" in en.text


def test_called_now_then_missed_call(world: tuple[Engine, Assistant]) -> None:
    engine, assistant = world
    first = _shared_room(engine)[0]
    room = first.room_id or ""
    engine.call_next(room, actor="nurse", desk="1")
    a = assistant.answer("제 차례 언제예요?", "ko", first.visit_id, "st-lobby")
    assert a.kind == "wait"
    assert "부르고 있습니다" in a.text
    assert a.route is not None
    door = assistant.rooms()[room].node_id
    assert a.route.to_node == door
    engine.miss(first.visit_id, actor="nurse")
    m = assistant.answer("I missed my call, what now?", "en", first.visit_id, None)
    assert (m.kind, m.live) == ("missed_call", True)
    assert "back in the line" in m.text


def test_next_step_and_where_to_go(world: tuple[Engine, Assistant]) -> None:
    engine, assistant = world
    v = next(x for x in engine.visits() if len(x.steps) >= 2)
    engine.check_in(v.visit_id, actor="test")
    n = assistant.answer("다음에 뭐 해야 돼요?", "ko", v.visit_id, None)
    assert (n.kind, n.live) == ("next_step", True)
    assert v.steps[0].label.ko in n.text
    assert "남은 순서는 1개" in n.text
    w = assistant.answer("Where do I go now?", "en", v.visit_id, "st-3f")
    room = assistant.rooms()[v.steps[0].room_id]
    assert w.kind == "where_to_go"
    assert room.name.en in w.text
    assert w.route is not None
    assert (w.route.from_node, w.route.to_node) == ("st-3f", room.node_id)


def test_step_free_visit_gets_a_step_free_route(world: tuple[Engine, Assistant]) -> None:
    engine, assistant = world
    v = engine.visits()[STEP_FREE_VISIT]
    assert v.step_free
    engine.check_in(v.visit_id, actor="test")
    a = assistant.answer("지금 어디로 가야 하나요?", "ko", v.visit_id, "st-lobby")
    assert a.route is not None
    assert a.route.step_free
    kinds = {n.node_id: n.kind for n in load_map(SAMPLE_MAP).nodes}
    assert not {kinds[n] for n in a.route.nodes} & {"stairs", "escalator"}
    # From 3F down to a 2F room the shortest way is the stairs: not for this patient.
    mine = assistant.answer("내과 1진료실 어디예요?", "ko", v.visit_id, "st-3f")
    assert mine.route is not None
    assert mine.route.step_free
    assert "elevator" in {kinds[n] for n in mine.route.nodes}
    other = next(x for x in engine.visits() if not x.step_free)
    theirs = assistant.answer("내과 1진료실 어디예요?", "ko", other.visit_id, "st-3f")
    assert theirs.route is not None
    assert "stairs" in {kinds[n] for n in theirs.route.nodes}
    general = assistant.answer("내과 1진료실 어디예요?", "ko", None, "st-3f")
    assert general.route == theirs.route


def test_payment_when_every_step_is_done(world: tuple[Engine, Assistant]) -> None:
    engine, assistant = world
    v = engine.visits()[0]
    before = assistant.answer("수납은 어디서 하나요?", "ko", v.visit_id, "st-lobby")
    assert before.kind == "payment"
    assert "아직 남은 진료" in before.text
    for _ in range(20):
        state = engine.visit(v.visit_id).state.value
        if state == "PAYMENT":
            break
        if state in ("REGISTERED", "ARRIVED"):
            engine.check_in(v.visit_id, actor="t")
        elif state == "WAITING":
            engine.call(v.visit_id, actor="t", desk="1")
        elif state == "CALLED":
            engine.start(v.visit_id, actor="t")
        elif state == "ONGOING":
            engine.complete(v.visit_id, actor="t")
    assert engine.visit(v.visit_id).state.value == "PAYMENT"
    a = assistant.answer("Where do I pay?", "en", v.visit_id, "st-lobby")
    assert (a.kind, a.live) == ("payment", True)
    assert "All of today's steps are done" in a.text
    assert a.route is not None
    assert a.route.to_node in ("door-pay-1", "door-pay-2")
    nxt = assistant.answer("다음 순서는 뭔가요?", "ko", v.visit_id, "st-lobby")
    assert "수납" in nxt.text


def test_medical_with_a_visit_names_the_rooms_staff(world: tuple[Engine, Assistant]) -> None:
    engine, assistant = world
    v = engine.visits()[0]
    engine.check_in(v.visit_id, actor="test")
    room = assistant.rooms()[v.steps[0].room_id]
    a = assistant.answer("제 검사 결과가 나쁜가요?", "ko", v.visit_id, None)
    assert a.kind == "medical"
    assert f"{room.name.ko}의 의사나 간호사" in a.text


def test_unknown_visit_gets_general_answers_only(world: tuple[Engine, Assistant]) -> None:
    _engine, assistant = world
    a = assistant.answer("얼마나 기다려야 해요?", "ko", "no-such-visit", None)
    assert (a.kind, a.live) == ("wait", False)
