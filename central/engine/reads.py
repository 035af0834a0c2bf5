"""Reads: room snapshots, directory documents and the queries the hot paths share.

A room snapshot takes a constant number of queries whatever the queue length (the room head,
then the entries with their masked names in one join) and is cached per (room, version,
day), so a thousand readers of an unchanged room cost one build and one version lookup each.

Between versions each room's line is kept as JSON text (`RoomLine`); a new version reads only
the entries written since the version it has (each write stamps `queue_entries.room_version`)
and splices them in, so a call in a room with 1,000 waiting reads a row or two, not 1,000.
The places and wait estimates (they change with every call) are written for the whole line
from one estimator pass: no pydantic object, no dict per entry. The bytes are exactly
`protocol.codec.encode` of the validated `RoomQueueSnapshot` (tests/unit/test_snapshot_bytes.py
compares them on random queues, tests/integration/test_snapshot_delta.py compares a kept line
with a fresh read after random operations), and the same bytes go to HTTP readers, the
WebSocket hub and MQTT.
"""

from __future__ import annotations

import json
import json.encoder
import threading
import time
from bisect import bisect_left, insort
from collections.abc import Iterable
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, case, select

from central.engine.cards import directory_cards_json
from central.engine.errors import Rejected
from central.engine.types import RoomInfo, WaitEstimator, WaitLine
from central.store.schema import (
    cards,
    departments,
    directory_versions,
    patients,
    queue_entries,
    room_days,
    room_versions,
    rooms,
    visits,
)
from protocol.base import SCHEMA_VERSION, LocalizedText
from protocol.journey import TERMINAL_STATES, State
from protocol.messages import (
    DirectoryCards,
    DirectoryRoom,
    DirectoryRooms,
    RoomQueueSnapshot,
)

SHOWN_STATES = ("WAITING", "CALLED", "ONGOING")
_q = queue_entries.c


class BuiltSnapshot:
    """One room snapshot version: its JSON bytes, and the pydantic model made on first use.

    The bytes are written straight from the rows (a thousand model objects would cost more
    than the queries); the model is validated from them on first use, so both always agree.
    """

    def __init__(self, room_id: str, version: int, data: bytes) -> None:
        self.room_id = room_id
        self.version = version
        self.data = data
        self._model: RoomQueueSnapshot | None = None

    @property
    def model(self) -> RoomQueueSnapshot:
        if self._model is None:
            self._model = RoomQueueSnapshot.model_validate_json(self.data)
        return self._model


class RoomBuilds:
    """One room's snapshot builds: at most one at a time, and the versions callers wait for.

    A caller wants the version it saw committed (or newer). It takes the latest cached
    version if that is new enough; else it builds, unless someone is building (it waits and
    takes their result if new enough) or someone wants a newer version (they build, it takes
    theirs). A build that a waiting caller has overtaken (it wants a newer version, which the
    builder's transaction cannot see) stops at its next check and leaves the room to them, so
    a reader arriving while the publisher builds an older version waits for a few rows, not
    for that whole build.
    """

    __slots__ = ("building", "cond", "newest_wanted", "wanted")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.building: int | None = None
        self.wanted: dict[int, int] = {}
        self.newest_wanted = 0
        """The newest version some caller waits for or builds (read without the lock)."""

    def want(self, version: int) -> None:
        self.wanted[version] = self.wanted.get(version, 0) + 1
        self.newest_wanted = max(self.newest_wanted, version)

    def unwant(self, version: int) -> None:
        left = self.wanted[version] - 1
        if left:
            self.wanted[version] = left
        else:
            del self.wanted[version]
            self.newest_wanted = max(self.wanted, default=0)


class _Overtaken(Exception):
    """A build stopped because a caller waits for a newer version."""


class SnapshotCache:
    """Built documents keyed by what they were built from; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, tuple[int, date, BuiltSnapshot]] = {}
        self._cards: tuple[int, date, DirectoryCards] | None = None
        self._builds: dict[str, RoomBuilds] = {}
        self._lines: dict[str, RoomLine] = {}

    def line(self, room_id: str) -> RoomLine | None:
        """The room's kept line (only the room's current builder may use it)."""
        with self._lock:
            return self._lines.get(room_id)

    def put_line(self, room_id: str, line: RoomLine) -> None:
        with self._lock:
            self._lines[room_id] = line

    def drop_line(self, room_id: str) -> None:
        with self._lock:
            self._lines.pop(room_id, None)

    def builds(self, room_id: str) -> RoomBuilds:
        """Who builds the room's snapshot now, and which versions readers wait for."""
        with self._lock:
            builds = self._builds.get(room_id)
            if builds is None:
                builds = self._builds[room_id] = RoomBuilds()
            return builds

    def room(self, room_id: str, version: int, day: date) -> BuiltSnapshot | None:
        """The cached snapshot of this day at `version` or newer (a version only grows, so
        a newer one was committed after the caller looked: never older than what it saw)."""
        with self._lock:
            hit = self._rooms.get(room_id)
        if hit is not None and hit[0] >= version and hit[1] == day:
            return hit[2]
        return None

    def put_room(self, room_id: str, version: int, day: date, built: BuiltSnapshot) -> None:
        with self._lock:
            old = self._rooms.get(room_id)
            if old is None or (old[1], old[0]) <= (day, version):
                self._rooms[room_id] = (version, day, built)

    def cards(self, version: int, day: date) -> DirectoryCards | None:
        with self._lock:
            hit = self._cards
        if hit is not None and hit[0] == version and hit[1] == day:
            return hit[2]
        return None

    def put_cards(self, version: int, day: date, doc: DirectoryCards) -> None:
        with self._lock:
            self._cards = (version, day, doc)

    def clear(self) -> None:
        """Forget everything built: the next snapshot of each room reads all its rows."""
        with self._lock:
            self._rooms.clear()
            self._lines.clear()
            self._cards = None


def next_waiting_query(room_id: str, day: date) -> Select[Any]:
    """The call-next query: the first row of `ix_queue_next` for this room, day and WAITING."""
    return (
        select(_q.visit_id)
        .where(_q.room_id == room_id, _q.service_day == day, _q.state == "WAITING")
        .order_by(_q.sort_priority, _q.order_key, _q.entry_id)
        .limit(1)
    )


def next_waiting_by_params() -> Select[Any]:
    """`next_waiting_query` with bind parameters `b_room` and `b_day` (built once)."""
    return (
        select(_q.visit_id)
        .where(
            _q.room_id == bindparam("b_room"),
            _q.service_day == bindparam("b_day"),
            _q.state == "WAITING",
        )
        .order_by(_q.sort_priority, _q.order_key, _q.entry_id)
        .limit(1)
    )


def waiting_keys_query(room_id: str, day: date, *, last: bool = False) -> Select[Any]:
    """Sort keys of the waiting line in call order (reversed with `last`)."""
    order = (
        (_q.sort_priority.desc(), _q.order_key.desc(), _q.entry_id.desc())
        if last
        else (_q.sort_priority, _q.order_key, _q.entry_id)
    )
    return (
        select(_q.sort_priority, _q.order_key)
        .where(_q.room_id == room_id, _q.service_day == day, _q.state == "WAITING")
        .order_by(*order)
    )


def document_version(conn: Connection, kind: str) -> int:
    version = conn.execute(
        select(directory_versions.c.version).where(directory_versions.c.kind == kind)
    ).scalar()
    return int(version or 1)


# The room's version and what the snapshot says of the room itself (built once: building it
# per snapshot cost a sixth of the build).
_HEAD = (
    select(
        room_versions.c.version,
        rooms.c.open,
        rooms.c.capacity,
        rooms.c.avg_service_s,
        room_days.c.served,
    )
    .select_from(
        room_versions.join(rooms, rooms.c.room_id == room_versions.c.room_id).outerjoin(
            room_days,
            and_(
                room_days.c.room_id == room_versions.c.room_id,
                room_days.c.service_day == bindparam("b_day"),
            ),
        )
    )
    .where(room_versions.c.room_id == bindparam("b_room"))
)


def room_snapshot(
    conn: Connection,
    room_id: str,
    day: date,
    cache: SnapshotCache,
    estimator: WaitEstimator,
    now: datetime,
) -> BuiltSnapshot:
    head = conn.execute(_HEAD, {"b_room": room_id, "b_day": day}).first()
    if head is None:
        raise Rejected.of("unknown_room", room_id=room_id)
    version = int(head.version)
    hit = cache.room(room_id, version, day)
    if hit is not None:
        return hit
    # One builder per room (two builds of 1,000 rows side by side took twice as long each):
    # a caller arriving while another builds waits and takes that result when it is new
    # enough; the newest version wanted is built first. Only this read-only build waits
    # here, never a write transaction.
    builds = cache.builds(room_id)
    with builds.cond:
        builds.want(version)
    try:
        while True:
            with builds.cond:
                while True:
                    hit = cache.room(room_id, version, day)
                    if hit is not None:
                        return hit
                    if builds.building is None and builds.newest_wanted <= version:
                        builds.building = version
                        break
                    builds.cond.wait()
            try:
                return _build_room(conn, room_id, day, cache, estimator, now, head, builds)
            except _Overtaken:
                pass  # the newer version's caller builds it now; take that one
            finally:
                with builds.cond:
                    builds.building = None
                    builds.cond.notify_all()
    finally:
        with builds.cond:
            builds.unwant(version)
            builds.cond.notify_all()


def _build_room(
    conn: Connection,
    room_id: str,
    day: date,
    cache: SnapshotCache,
    estimator: WaitEstimator,
    now: datetime,
    head: Any,
    builds: RoomBuilds,
) -> BuiltSnapshot:
    version = int(head.version)
    info = RoomInfo(room_id, int(head.capacity), int(head.avg_service_s), bool(head.open))
    line = cache.line(room_id)
    if line is not None and line.day == day and line.fresh():
        # The rows written since the version this server has (`ix_queue_delta`): a few per
        # change, whatever the queue length. Only this room's builder touches its line.
        if line.version < version:
            try:
                since = {"b_room": room_id, "b_day": day, "b_since": line.version}
                line.apply(conn.execute(_CHANGED, since))
            except BaseException:
                cache.drop_line(room_id)  # half-applied: the next build reads every row
                raise
            line.version = version
    else:
        line = RoomLine.read(conn, room_id, day, version, builds)
        cache.put_line(room_id, line)
    built = BuiltSnapshot(room_id, version, line.encode(info, estimator, now, head))
    cache.put_room(room_id, version, day, built)
    return built


class RoomLine:
    """A room's shown queue entries as JSON text, in call order, kept between versions.

    A version's snapshot is written from it after applying the rows written since the
    previous one (stamped `queue_entries.room_version`): a call or a check-in reads one or
    two rows instead of the whole line. Each entry is kept as the text before and after its
    place and estimates, which change with every call; WAITING ones in `waiting`, sorted by
    (sort_priority, order_key, entry_id) as `ix_queue_next` orders them (order keys compare
    byte-wise on both databases: collation "C" on PostgreSQL), CALLED and ONGOING ones in
    `others` with their call or start time.

    Read whole again when the day changes, after an import (`SnapshotCache.clear`), after a
    failed update, and at least every `FULL_READ_S` seconds, so nothing written outside the
    engine's stamped paths lives on for long.
    """

    FULL_READ_S = 60.0

    __slots__ = ("day", "others", "pieces", "read_at", "version", "waiting")

    def __init__(self, day: date, version: int) -> None:
        self.day = day
        self.version = version
        self.read_at = time.monotonic()
        self.waiting: list[tuple[int, str, int]] = []
        self.pieces: dict[int, tuple[tuple[int, str, int], str, str]] = {}
        self.others: dict[int, tuple[str, Any, int, str]] = {}

    def fresh(self) -> bool:
        return time.monotonic() - self.read_at < self.FULL_READ_S

    @classmethod
    def read(
        cls, conn: Connection, room_id: str, day: date, version: int, builds: RoomBuilds
    ) -> RoomLine:
        """Every shown entry of the room (WAITING ones arrive in call order: no sort). A read
        that a waiting caller overtook (it wants a newer version) stops at its next 64 rows."""
        line = cls(day, version)
        rows = conn.execute(_ROWS, {"b_room": room_id, "b_day": day})
        for i, row in enumerate(rows):
            if not i & 63 and builds.newest_wanted > version:
                rows.close()
                raise _Overtaken
            line._add(row, ordered=True)
        return line

    def apply(self, rows: Iterable[Any]) -> None:
        """Replace each written entry's text (dropping it when it left the shown states)."""
        for row in rows:
            entry_id = row[8]
            old = self.pieces.pop(entry_id, None)
            if old is not None:
                del self.waiting[bisect_left(self.waiting, old[0])]
            self.others.pop(entry_id, None)
            if row[2] in SHOWN_STATES:
                self._add(row, ordered=False)

    def _add(self, row: Any, *, ordered: bool) -> None:
        visit_id, ticket, state, priority, call_count, desk, name, at, entry_id, sp, ok = row
        before = (
            f'{{"visit_id":{_escape(visit_id)},"ticket_number":{ticket},'
            f'"masked_name":{_escape(name)},"state":"{state}","priority":{priority},'
            '"position":'
        )
        after = f',"call_count":{call_count},"desk":{_json_str(desk)}}}'
        if state == "WAITING":
            key = (sp, ok, entry_id)
            if ordered:
                self.waiting.append(key)
            else:
                insort(self.waiting, key)
            self.pieces[entry_id] = (key, before, after)
        else:
            self.others[entry_id] = (state, at, entry_id, before + _NOT_WAITING + after)

    def encode(self, info: RoomInfo, estimator: WaitEstimator, now: datetime, head: Any) -> bytes:
        """The snapshot's JSON, byte for byte what `protocol.codec.encode` writes for the
        validated `RoomQueueSnapshot`."""
        calling = sorted((e for e in self.others.values() if e[0] == "CALLED"), key=_BY_TIME)
        ongoing = sorted((e for e in self.others.values() if e[0] == "ONGOING"), key=_BY_TIME)
        pieces = self.pieces
        shown = [pieces[key[2]] for key in self.waiting[:5000]]
        n = len(self.waiting)
        # The whole line's estimates in one pass (places 1 .. n, and n + 1 for someone
        # checking in now), not one estimator call per place.
        line = line_estimates(estimator, info, n + 1)
        exp, low, high = line.expected_s, line.low_s, line.high_s
        places = ",".join(
            f'{p[1]}{i + 1},"estimated_wait_s":{exp[i]},'
            f'"wait_low_s":{"null" if low[i] is None else low[i]},'
            f'"wait_high_s":{"null" if high[i] is None else high[i]}{p[2]}'
            for i, p in enumerate(shown)
        )
        return (
            f'{{"schema_version":"{SCHEMA_VERSION}","room_id":{_json_str(info.room_id)},'
            f'"version":{self.version},"service_day":"{self.day.isoformat()}",'
            f'"generated_at":"{_json_time(now)}","open":{"true" if info.open else "false"},'
            f'"now_calling":[{",".join(e[3] for e in calling[:50])}],'
            f'"ongoing":[{",".join(e[3] for e in ongoing[:50])}],'
            f'"waiting":[{places}],'
            f'"served_today":{int(head.served or 0)},"estimated_wait_s":{exp[n]},'
            f'"staff_on_duty":{min(info.capacity, 100)}}}'
        ).encode()


def line_estimates(estimator: WaitEstimator, room: RoomInfo, count: int) -> WaitLine:
    """The estimates for places 1 .. `count`: one `estimate_line` call when the estimator has
    one (the same figures as `estimate` per place, worked out in one pass), else per place."""
    line = getattr(estimator, "estimate_line", None)
    if line is not None:
        out: WaitLine = line(room, count)
        return out
    each = [estimator.estimate(room, p) for p in range(1, count + 1)]
    return WaitLine([e.expected_s for e in each], [e.low_s for e in each], [e.high_s for e in each])


# The snapshot's rows: WAITING ones in call order (`ix_queue_next` order: SQLite reads the
# index range in order, no sort), CALLED and ONGOING ones (a few) sorted by their time
# afterwards; `at` is the call time of a CALLED entry and the start time of an ONGOING one.
# Constant statements, compiled once.
_COLUMNS = (
    _q.visit_id,
    _q.ticket_number,
    _q.state,
    _q.priority,
    _q.call_count,
    _q.desk,
    patients.c.masked_name,
    case((_q.state == "CALLED", _q.called_at), (_q.state == "ONGOING", _q.started_at)).label("at"),
    _q.entry_id,
    _q.sort_priority,
    _q.order_key,
)
_FROM = queue_entries.join(visits, visits.c.visit_id == _q.visit_id).join(
    patients, patients.c.patient_id == visits.c.patient_id
)
_ROWS = (
    select(*_COLUMNS)
    .select_from(_FROM)
    .where(
        _q.room_id == bindparam("b_room"),
        _q.service_day == bindparam("b_day"),
        _q.state.in_(SHOWN_STATES),
    )
    .order_by(_q.state, _q.sort_priority, _q.order_key, _q.entry_id)
)
# The room's entries written since version `b_since`, whatever their state now (one that was
# called, completed or cancelled leaves the line): `ix_queue_delta`.
_CHANGED = (
    select(*_COLUMNS)
    .select_from(_FROM)
    .where(
        _q.room_id == bindparam("b_room"),
        _q.service_day == bindparam("b_day"),
        _q.room_version > bindparam("b_since"),
    )
    .order_by(_q.entry_id)
)
_BY_TIME = itemgetter(1, 2)  # (state, at, entry_id, text): by time, then entry id
_NOT_WAITING = 'null,"estimated_wait_s":null,"wait_low_s":null,"wait_high_s":null'

# JSON strings escaped exactly as pydantic (serde_json) escapes them: `"` and `\\`, the
# control characters below U+0020 (\b \t \n \f \r short, the others \u00xx), nothing else.
# The C escaper behind `json.dumps(..., ensure_ascii=False)` does the same (checked against
# pydantic-core in tests/unit/test_snapshot_bytes.py).
_escape = json.encoder.encode_basestring


def _json_str(value: str | None) -> str:
    return "null" if value is None else str(_escape(value))


def _json_time(at: datetime) -> str:
    """An aware datetime as pydantic writes it: ISO 8601 in UTC with a `Z`."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def visit_id_for_card(conn: Connection, card_hash_hex: str, day: date) -> str | None:
    """Today's visit of the card: an open one first, else the newest."""
    rows = conn.execute(
        select(visits.c.visit_id, visits.c.state)
        .select_from(cards.join(visits, visits.c.patient_id == cards.c.patient_id))
        .where(cards.c.card_hash == card_hash_hex, cards.c.active, visits.c.service_day == day)
        .order_by(visits.c.created_at.desc(), visits.c.visit_id.desc())
    ).all()
    for r in rows:
        if State(r.state) not in TERMINAL_STATES:
            return str(r.visit_id)
    return str(rows[0].visit_id) if rows else None


def directory_rooms(conn: Connection) -> DirectoryRooms:
    version = document_version(conn, "rooms")
    rows = conn.execute(
        select(rooms, departments.c.name.label("department_name"))
        .join(departments, departments.c.department_id == rooms.c.department_id)
        .order_by(rooms.c.sort_order, rooms.c.room_id)
    ).all()
    return DirectoryRooms(
        kind="rooms",
        version=version,
        rooms=[
            DirectoryRoom(
                room_id=r.room_id,
                name=LocalizedText.model_validate(r.name),
                department_id=r.department_id,
                department_name=LocalizedText.model_validate(r.department_name),
                kind=r.kind,
                floor_label=r.floor_label,
                node_id=r.node_id,
                open=bool(r.open),
                avg_service_s=r.avg_service_s,
                capacity=r.capacity,
                prep_notes=LocalizedText.model_validate(r.prep_notes) if r.prep_notes else None,
            )
            for r in rows
        ],
    )


def directory_cards(conn: Connection, day: date, cache: SnapshotCache) -> DirectoryCards:
    """Today's cards as the model: validated from the bytes `central.engine.cards` builds (one
    query path for both; the bytes are what the bridge publishes)."""
    version = document_version(conn, "cards")
    hit = cache.cards(version, day)
    if hit is not None:
        return hit
    doc = DirectoryCards.model_validate_json(directory_cards_json(conn, day, version))
    cache.put_cards(version, day, doc)
    return doc
