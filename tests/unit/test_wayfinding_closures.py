"""Closures set through the API: stored durably, merged into the map the directory serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from central.bridge.directory import WayfindingPublisher
from central.clock import SystemClock
from central.config import SAMPLE_MAP
from central.store import Database
from central.wayfinding.closures import merged, put_closures, remove_closure, stored_closures
from central.wayfinding.loader import load_map
from central.wayfinding.routing import closed_nodes, group_closures
from protocol.base import LocalizedText
from protocol.codec import decode
from protocol.hospital_map import Closure
from protocol.messages import DirectoryRoutes

REASON = LocalizedText(ko="점검 중", en="Under maintenance")


def test_closures_survive_a_new_database_connection_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    db = Database(path)
    db.migrate()
    now = datetime.now(UTC)
    m = load_map(SAMPLE_MAP)
    put_closures(db, group_closures(m, "elev-a", REASON, now + timedelta(hours=1)), "admin1", now)
    db.dispose()
    db = Database(path)  # as after a restart
    try:
        got = stored_closures(db)
        assert [c.node_id for c in got] == ["elev-a-1f", "elev-a-2f", "elev-a-3f"]
        assert got[0].reason == REASON
        assert got[0].until is not None
        assert remove_closure(db, "elev-a-2f")
        assert not remove_closure(db, "elev-a-2f")
        assert [c.node_id for c in stored_closures(db)] == ["elev-a-1f", "elev-a-3f"]
    finally:
        db.dispose()


def test_merged_adds_known_nodes_only_and_lapsed_ones_do_not_close() -> None:
    m = load_map(SAMPLE_MAP)
    now = datetime.now(UTC)
    extra = [
        Closure(node_id="elev-b-2f", reason=REASON),
        Closure(node_id="elev-a-1f", reason=REASON, until=now - timedelta(minutes=1)),
        Closure(node_id="gone-node", reason=REASON),
    ]
    out = merged(m, extra)
    assert {c.node_id for c in out.closures} == {"elev-b-2f", "elev-a-1f"}
    assert closed_nodes(out, now) == frozenset({"elev-b-2f"})
    assert merged(m, []) is m


def test_publisher_rebuilds_with_a_higher_version_when_a_closure_is_stored(
    tmp_path: Path,
) -> None:
    db = Database(str(tmp_path / "p.db"))
    db.migrate()
    try:
        pub = WayfindingPublisher(db, SAMPLE_MAP, SystemClock(), lambda d: None)
        first = pub.check()
        assert first is not None
        assert pub.check() is None
        m = load_map(SAMPLE_MAP)
        now = datetime.now(UTC)
        put_closures(db, group_closures(m, "elev-a", REASON), "t", now)
        put_closures(db, group_closures(m, "elev-b", REASON), "t", now)
        second = pub.check()
        assert second is not None
        assert second.routes_version == first.routes_version + 1
        assert second.map_version == first.map_version + 1
        routes = decode(DirectoryRoutes, second.routes_payload)
        # Both elevators closed: no step-free way from the lobby to 3F is published.
        assert not any(
            r.from_node == "st-lobby" and r.to_node == "door-os-1" and r.step_free
            for r in routes.routes
        )
        assert any(r.from_node == "st-lobby" and r.to_node == "door-os-1" for r in routes.routes)
    finally:
        db.dispose()
