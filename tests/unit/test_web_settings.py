"""Service-day settings changed at runtime (central.api.admin_routes): validation with nothing
half-applied, the audit trail, the engine following the new rules, another worker following
the database, and a new day start that never cuts the running day short."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from central.api.admin_routes import (
    RuntimeSettings,
    SettingsIn,
    SettingsInvalid,
    ShiftedServiceDay,
    first_day_under,
)
from central.clock import FakeClock, ServiceDay
from central.config import QueueSettings
from central.engine import Engine
from central.seed import sample_hospital
from central.store import Database
from central.store.schema import directory_versions, service_settings_audit
from protocol.journey import State

SEOUL = ZoneInfo("Asia/Seoul")
KEY = b"settings-test-site-key-012345678"


def seoul(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=SEOUL)


D = date(2026, 11, 27)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(seoul(D, 10))


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock) -> Iterator[Engine]:
    db = Database(str(tmp_path / "c.db"))
    db.migrate()
    e = Engine(db, site_key=KEY, clock=clock)
    e.load(sample_hospital(e.service_day(), patients=30).data)
    yield e
    e.close()


def audit_rows(e: Engine) -> list[tuple[str, str, object, object]]:
    with e.db.read() as conn:
        rows = conn.execute(select(service_settings_audit).order_by(service_settings_audit.c.id))
        return [(r.actor, r.key, r.before, r.after) for r in rows]


def config_version(e: Engine) -> int:
    with e.db.read() as conn:
        q = select(directory_versions.c.version).where(directory_versions.c.kind == "config")
        return int(conn.execute(q).scalar_one())


# ------------------------------------------------------------------ the service day


def test_a_later_day_start_applies_from_tomorrow_and_the_running_day_is_kept() -> None:
    # Changed at 10:00 on D: D keeps its number until 06:00 on D+1 (not 04:00).
    frm = first_day_under("Asia/Seoul", "06:00", D, seoul(D, 10).astimezone(UTC))
    assert frm == D + timedelta(days=1)
    days = ShiftedServiceDay("Asia/Seoul", "04:00", "06:00", frm)
    assert days.of(seoul(D, 10)) == D
    assert days.of(seoul(D + timedelta(days=1), 5, 59)) == D
    assert days.of(seoul(D + timedelta(days=1), 6, 0)) == D + timedelta(days=1)
    assert days.start_of(D) == seoul(D, 4)
    assert days.start_of(D + timedelta(days=1)) == seoul(D + timedelta(days=1), 6)


def test_an_earlier_day_start_past_today_waits_a_day_so_days_never_go_back() -> None:
    # 03:00 on D+1 is still day D under the 04:00 rule; 02:00 on D+1 has passed, so the new
    # rule starts with D+2 and D+1 runs from 04:00 on D+1 to 02:00 on D+2.
    now = seoul(D + timedelta(days=1), 3)
    assert ServiceDay("Asia/Seoul", "04:00").of(now) == D
    frm = first_day_under("Asia/Seoul", "02:00", D, now)
    assert frm == D + timedelta(days=2)
    days = ShiftedServiceDay("Asia/Seoul", "04:00", "02:00", frm)
    assert days.of(now) == D
    assert days.of(seoul(D + timedelta(days=1), 4)) == D + timedelta(days=1)
    assert days.of(seoul(D + timedelta(days=2), 1, 59)) == D + timedelta(days=1)
    assert days.of(seoul(D + timedelta(days=2), 2)) == D + timedelta(days=2)
    # Monotonic over two days in 10-minute steps.
    t, last = seoul(D, 4), D
    while t < seoul(D + timedelta(days=3), 4):
        day = days.of(t)
        assert day >= last
        last = day
        t += timedelta(minutes=10)


# ------------------------------------------------------------------ validation


def test_bad_changes_are_refused_whole_with_where(engine: Engine) -> None:
    rt = RuntimeSettings(engine)
    before = config_version(engine)
    with pytest.raises(SettingsInvalid) as e:
        rt.change(SettingsIn(missed_requeue_after=5, lease_low_water=20), "admin1")
    assert e.value.where == "body.lease_low_water"
    assert "smaller than lease_block_size (20)" in e.value.detail
    with pytest.raises(SettingsInvalid) as e:
        rt.change(SettingsIn(lease_block_size=4), "admin1")  # below the low-water mark 5
    assert e.value.where == "body.lease_block_size"
    with pytest.raises(SettingsInvalid) as e:
        rt.change(SettingsIn(timezone="Europe/Paris", no_show_after_calls=2), "admin1")
    assert e.value.where == "body.timezone"
    assert "restart" in e.value.detail
    # Nothing of any of them was written or applied.
    assert audit_rows(engine) == []
    assert engine.queue.missed_requeue_after == 3
    assert engine.queue.no_show_after_calls == 3
    assert config_version(engine) == before
    # The same time zone is accepted (a form sends it back unchanged).
    assert rt.change(SettingsIn(timezone="Asia/Seoul"), "admin1") == []


def test_request_bounds_match_the_config_file_bounds() -> None:
    props = QueueSettings.model_json_schema()["properties"]
    mine = SettingsIn.model_json_schema()["properties"]
    for key in ("missed_requeue_after", "no_show_after_calls", "lease_block_size"):
        theirs = props[key]
        ours = next(x for x in mine[key]["anyOf"] if x.get("type") == "integer")
        assert (ours.get("minimum"), ours.get("maximum")) == (
            theirs.get("minimum"),
            theirs.get("maximum"),
        ), key


# ------------------------------------------------------------------ applying


def test_changes_are_audited_and_the_engine_follows_them(engine: Engine) -> None:
    rt = RuntimeSettings(engine)
    v0 = config_version(engine)
    changes = rt.change(
        SettingsIn(missed_requeue_after=0, no_show_after_calls=1, lease_block_size=20), "admin1"
    )
    # lease_block_size was already 20: not a change, not audited.
    assert [(c.key, c.before, c.after) for c in changes] == [
        ("missed_requeue_after", 3, 0),
        ("no_show_after_calls", 3, 1),
    ]
    assert audit_rows(engine) == [
        ("admin1", "missed_requeue_after", 3, 0),
        ("admin1", "no_show_after_calls", 3, 1),
    ]
    assert config_version(engine) == v0 + 1  # stations get directory/config again
    # Behaviour: a missed call makes a no-show after one call now.
    room_visits: dict[str, list[str]] = {}
    for v in engine.visits(limit=100):
        room_visits.setdefault(v.steps[v.current_step].room_id, []).append(v.visit_id)
    room, ids = max(room_visits.items(), key=lambda kv: len(kv[1]))
    for visit_id in ids[:3]:
        engine.check_in(visit_id, actor="test")
    called = engine.call_next(room, actor="nurse1").visit
    assert engine.miss(called.visit_id, actor="nurse1").visit.state is State.NO_SHOW
    # ... and back to 2 calls: a miss requeues at the front (after 0 others).
    rt.change(SettingsIn(no_show_after_calls=2), "admin2")
    called = engine.call_next(room, actor="nurse1").visit
    missed = engine.miss(called.visit_id, actor="nurse1").visit
    assert missed.state is State.WAITING
    assert engine.room_snapshot(room).waiting[0].visit_id == called.visit_id
    doc = rt.document()
    by_key = {s.key: s for s in doc.settings}
    assert (by_key["no_show_after_calls"].value, by_key["no_show_after_calls"].source) == (
        2,
        "admin",
    )
    assert by_key["no_show_after_calls"].updated_by == "admin2"
    assert by_key["lease_low_water"].source == "config"
    assert [c.key for c in doc.changes][:1] == ["no_show_after_calls"]  # newest first
    assert doc.timezone == "Asia/Seoul"


def test_lease_settings_reach_new_blocks(engine: Engine) -> None:
    rt = RuntimeSettings(engine)
    rt.change(SettingsIn(lease_block_size=50, lease_low_water=10), "admin1")
    assert (engine.lease_settings.block_size, engine.lease_settings.low_water) == (50, 10)
    assert engine.directory_config("http://x/p").lease_low_water == 10


def test_another_worker_follows_the_database(engine: Engine, clock: FakeClock) -> None:
    mine = RuntimeSettings(engine)
    other_engine = Engine(Database(engine.db.url), site_key=KEY, clock=clock)
    try:
        theirs = RuntimeSettings(other_engine)
        mine.change(SettingsIn(missed_requeue_after=7), "admin1")
        assert other_engine.queue.missed_requeue_after == 3
        assert theirs.refresh() is True
        assert other_engine.queue.missed_requeue_after == 7
        assert theirs.refresh() is False  # nothing new: nothing re-applied
    finally:
        other_engine.close()


def test_a_new_day_start_is_pending_until_its_day(engine: Engine, clock: FakeClock) -> None:
    rt = RuntimeSettings(engine)
    today = engine.service_day()
    assert today == D
    (change,) = rt.change(SettingsIn(day_starts_at="06:00"), "admin1")
    assert (change.before, change.after, change.effective_day) == (
        "04:00",
        "06:00",
        D + timedelta(days=1),
    )
    doc = {s.key: s for s in rt.document().settings}["day_starts_at"]
    assert (doc.value, doc.pending_value, doc.pending_from) == ("04:00", "06:00", D + timedelta(1))
    # 05:00 the next morning: still day D (the old rule would have turned it at 04:00).
    clock.set(seoul(D + timedelta(days=1), 5))
    assert engine.service_day() == D
    clock.set(seoul(D + timedelta(days=1), 6, 1))
    assert engine.service_day() == D + timedelta(days=1)
    rt.refresh()
    assert engine.site.day_starts_at == "06:00"
    assert engine.directory_config("http://x/p").day_starts_at == "06:00"
    doc = {s.key: s for s in rt.document().settings}["day_starts_at"]
    assert (doc.value, doc.pending_value) == ("06:00", None)
    # A restart (a fresh RuntimeSettings on the config's 04:00) keeps the stored rule.
    fresh = Engine(Database(engine.db.url), site_key=KEY, clock=clock)
    try:
        RuntimeSettings(fresh).refresh()
        assert fresh.service_day(seoul(D + timedelta(days=2), 5)) == D + timedelta(days=1)
    finally:
        fresh.close()


def test_withdrawing_a_pending_day_start(engine: Engine) -> None:
    rt = RuntimeSettings(engine)
    rt.change(SettingsIn(day_starts_at="05:30"), "admin1")
    rt.change(SettingsIn(day_starts_at="04:00"), "admin1")  # back to the rule in force
    doc = {s.key: s for s in rt.document().settings}["day_starts_at"]
    assert (doc.value, doc.pending_value) == ("04:00", None)
    assert engine.service_day(seoul(D + timedelta(days=1), 4, 30)) == D + timedelta(days=1)
    with engine.db.read() as conn:
        n = conn.execute(select(func.count()).select_from(service_settings_audit)).scalar()
    assert n == 2
