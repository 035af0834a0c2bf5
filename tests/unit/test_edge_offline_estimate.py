"""The offline position estimate: same answers as a plain scan, and no per-tap cost that grows
with the number of local check-ins piled up during an outage (real SQLite, real Station)."""

from __future__ import annotations

import random
import sys
from datetime import timedelta

from edge.decide import LocalCheckIns
from edge.readers.base import CardRead
from edge.station import Station
from edge.store.db import LocalCheckIn, StationStore
from protocol.codec import encode
from tests.support.edge_world import DAY, cards, config, lease, rooms, routes, uid
from tests.support.factories import SITE_KEY
from tests.unit.test_edge_station import Clock


def _naive(items, room_id, day, priority, before_seq, shown) -> int:
    """The estimate as it was first written: a scan of every local check-in."""
    return sum(
        1
        for c in items
        if (before_seq is None or c.station_seq < before_seq)
        and c.room_id == room_id
        and c.service_day == day
        and c.visit_id not in shown
        and c.priority <= priority
    )


def _checkin(seq: int, visit: str, room: str, day=DAY, priority: int = 5) -> LocalCheckIn:
    return LocalCheckIn(seq, visit, f"h{visit}", room, 0, day, None, priority, "h")


def test_the_index_counts_exactly_what_a_scan_counts():
    rng = random.Random(7)
    days = [DAY, DAY - timedelta(days=1)]
    items = [
        _checkin(
            seq, f"v{rng.randrange(60)}", rng.choice("ab"), rng.choice(days), rng.randrange(10)
        )
        for seq in rng.sample(range(1, 1000), 300)
    ]
    index = LocalCheckIns(items)
    live = {c.station_seq: c for c in items}
    for step in range(400):
        if step % 3 == 0:  # keep it changing the way the station does
            seq = rng.choice(list(live))
            assert index.pop(seq) == live.pop(seq)
            new = _checkin(1000 + step, f"v{rng.randrange(60)}", "a", DAY, rng.randrange(10))
            index.add(new)
            live[new.station_seq] = new
        shown = {f"v{rng.randrange(60)}" for _ in range(rng.randrange(8))}
        before = rng.choice([None, rng.randrange(1, 1500)])
        room, day, prio = rng.choice("ab"), rng.choice(days), rng.randrange(10)
        assert index.count_ahead(room, day, prio, before, shown) == _naive(
            live.values(), room, day, prio, before, shown
        )
    assert dict(index) == live
    assert index.pop(99_999) is None


def _station(tmp_path, pending: int) -> Station:
    """A station offline with `pending` local check-ins of other visits for the X-ray room."""
    path = tmp_path / f"st-{pending}.sqlite3"
    st = Station("st-1", StationStore(path), SITE_KEY, location_node="st-1", wall=Clock())
    for doc in (rooms(), config(), routes(), cards(20)):
        st.apply_directory(doc, encode(doc).decode())
    st.apply_lease(lease("st-1", 1, [("l1", "xray-1", 20_001, 30_000)]))
    store = st.store
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO local_checkins(station_seq, visit_id, card_hash, room_id, step_index, "
            "service_day, ticket_number, priority, hlc) "
            "VALUES (?, ?, ?, 'xray-1', 0, ?, ?, ?, 'h')",
            [
                (seq, f"w{seq}", f"c{seq}", DAY.isoformat(), seq, seq % 10)
                for seq in range(1, pending + 1)
            ],
        )
        store.conn.execute("INSERT INTO meta VALUES ('next_seq', ?)", (str(pending + 1),))
    store.close()
    # Loaded as after a restart in the middle of the outage.
    st = Station("st-1", StationStore(path), SITE_KEY, location_node="st-1", wall=Clock())
    assert len(st.cache.local) == pending
    return st


def _cost_of_tap(st: Station, card: int) -> tuple[int, int, str, int | None]:
    """(Python lines run, SQL statements run, screen, position) for one tap of `card`."""
    statements = 0
    lines = 0

    def on_sql(_sql: str) -> None:
        nonlocal statements
        statements += 1

    def tracer(frame, event, arg):
        nonlocal lines
        if event == "line":
            lines += 1
        return tracer

    st.store.conn.set_trace_callback(on_sql)
    sys.settrace(tracer)
    try:
        screen = st.handle_read(CardRead(uid(card), "sim", "simulated", 0.0))
    finally:
        sys.settrace(None)
        st.store.conn.set_trace_callback(None)
    return lines, statements, screen.kind, screen.position


def test_a_tap_costs_the_same_with_10_or_5000_local_checkins_pending(tmp_path):
    few, many = _station(tmp_path, 10), _station(tmp_path, 5000)
    # The cards' priority is 5: half of the pending ones (priorities 0..5 of 10) are ahead.
    for card, kind in ((1, "checked_in"), (1, "already_waiting"), (2, "checked_in")):
        lines_few, sql_few, kind_few, pos_few = _cost_of_tap(few, card)
        lines_many, sql_many, kind_many, pos_many = _cost_of_tap(many, card)
        assert kind_few == kind_many == kind
        assert pos_few is not None
        assert pos_many is not None
        assert pos_many - pos_few == sum(1 for s in range(11, 5001) if s % 10 <= 5)
        assert sql_many == sql_few
        # A scan would run at least one line per pending check-in (about 5,000 more).
        assert lines_many <= lines_few + 50, (lines_few, lines_many)
