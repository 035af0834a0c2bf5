"""A Jepsen-style history of taps and a checker against central's final state.

Every tap a test makes is recorded as it is invoked and then completed as one of:

- `ok`: the station gave feedback (the tap API answered 200 with a screen): the tap is durable
  and must be at central exactly once;
- `fail`: the station said it did NOT record the tap (503 refused, 400 bad UID): never at central;
- `info`: indeterminate (the station was killed mid-request): at central at most once.

`check` reads central's database (events, queue entries, room versions) and each station's
database, and returns a `Report` whose `problems` list is empty when every invariant of
DESIGN §4 holds. Matching is exact: per station, taps are issued one at a time, so central's
tap-events of that station in station_seq order must be the `ok` taps in order with some of
the `info` taps in between (an NFA over the history, not a per-card count alone).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["invoked", "ok", "fail", "info"]

# Event kinds a tap writes: exactly one of these per recorded tap (plus maybe a lease_request).
TAP_KINDS = ("check_in", "tap", "unknown_card")


@dataclass
class Op:
    """One tap: where, which card (as its keyed hash), and how it ended."""

    index: int
    station_id: str
    card_hash: str
    invoked_at: float
    status: Status = "invoked"
    completed_at: float | None = None
    screen: str | None = None
    detail: str = ""


class History:
    """Thread-safe append-only record of taps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ops: list[Op] = []

    def invoke(self, station_id: str, card_hash: str) -> Op:
        with self._lock:
            op = Op(len(self.ops), station_id, card_hash, time.monotonic())
            self.ops.append(op)
            return op

    def complete(self, op: Op, status: Status, screen: str | None = None, detail: str = "") -> None:
        with self._lock:
            op.status = status
            op.completed_at = time.monotonic()
            op.screen = screen
            op.detail = detail

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(op.status for op in self.ops)


@dataclass(frozen=True)
class CentralEvent:
    station_id: str
    station_seq: int
    kind: str
    outcome: str
    payload: dict[str, object]


@dataclass
class Report:
    """What the checker found; `problems` is empty when every invariant holds."""

    taps: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    info_applied: int = 0
    lost: int = 0
    duplicated: int = 0
    events_at_central: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"taps={self.taps} ok={self.ok} fail={self.fail} info={self.info} "
            f"info_applied={self.info_applied} lost={self.lost} duplicated={self.duplicated} "
            f"central_events={self.events_at_central} problems={len(self.problems)}"
        )


def central_events(central_db: Path) -> list[CentralEvent]:
    """Every event central committed, in (station, seq) order."""
    with sqlite3.connect(f"file:{central_db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT station_id, station_seq, kind, outcome, payload FROM events "
            "ORDER BY station_id, station_seq"
        ).fetchall()
    return [
        CentralEvent(str(r[0]), int(r[1]), str(r[2]), str(r[3]), json.loads(r[4])) for r in rows
    ]


def _match(ops: list[Op], central_hashes: list[str]) -> int | None:
    """Index of the first op after which no valid match exists, or None if the history fits.

    The state is the set of positions in central's list reachable after each op: an `ok` op
    must consume an equal hash, an `info` op may, a `fail` op must not.
    """
    reachable = {0}
    for i, op in enumerate(ops):
        step = {
            j + 1
            for j in reachable
            if j < len(central_hashes) and central_hashes[j] == op.card_hash
        }
        if op.status == "ok":
            reachable = step
        elif op.status == "info":
            reachable = reachable | step
        if not reachable:
            return i
    return None if len(central_hashes) in reachable else len(ops)


def check(history: History, central_db: Path, station_dbs: dict[str, Path] | None = None) -> Report:
    """Check the history against central's final state (after healing and draining)."""
    ops = list(history.ops)
    report = Report(taps=len(ops))
    report.ok = sum(op.status == "ok" for op in ops)
    report.fail = sum(op.status == "fail" for op in ops)
    report.info = sum(op.status in ("info", "invoked") for op in ops)
    for op in ops:
        if op.status == "invoked":
            op.status = "info"  # never completed: the test gave up on it, so indeterminate
    events = central_events(central_db)
    report.events_at_central = len(events)
    by_station: dict[str, list[CentralEvent]] = {}
    for e in events:
        by_station.setdefault(e.station_id, []).append(e)
    stations = sorted({op.station_id for op in ops} | set(by_station))
    for sid in stations:
        evs = by_station.get(sid, [])
        seqs = [e.station_seq for e in evs]
        if seqs != list(range(1, len(seqs) + 1)):
            missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
            report.problems.append(
                f"{sid}: station_seq gap at central, missing {missing[:10]} (of {len(missing)})"
            )
        hashes = [str(e.payload.get("card_hash")) for e in evs if e.kind in TAP_KINDS]
        mine = [op for op in ops if op.station_id == sid]
        ok_n = Counter(op.card_hash for op in mine if op.status == "ok")
        info_n = Counter(op.card_hash for op in mine if op.status == "info")
        at_central = Counter(hashes)
        for card in ok_n.keys() | info_n.keys() | at_central.keys():
            short = ok_n[card] - at_central[card]
            extra = at_central[card] - ok_n[card] - info_n[card]
            report.lost += max(0, short)
            report.duplicated += max(0, extra)
            report.info_applied += max(0, min(info_n[card], at_central[card] - ok_n[card]))
        bad = _match(mine, hashes)
        if bad is not None:
            where = mine[bad] if bad < len(mine) else None
            report.problems.append(
                f"{sid}: central's tap events do not match the history "
                f"(first misfit at op {where.index if where else 'end'}"
                f"{' status=' + where.status if where else ''}; "
                f"{len(hashes)} tap events for {sum(ok_n.values())} ok "
                f"+ {sum(info_n.values())} indeterminate taps)"
            )
        if station_dbs and sid in station_dbs:
            written = station_max_seq(station_dbs[sid])
            if written != len(seqs):
                report.problems.append(
                    f"{sid}: the station wrote seqs 1..{written}, central holds 1..{len(seqs)}"
                )
    if report.lost:
        report.problems.append(f"{report.lost} acknowledged taps are missing at central")
    if report.duplicated:
        report.problems.append(f"{report.duplicated} taps were applied more than once")
    report.problems.extend(ticket_problems(central_db, events))
    return report


def ticket_problems(central_db: Path, events: Iterable[CentralEvent]) -> list[str]:
    """No room has two equal ticket numbers for a day: in applied check-ins and in queues."""
    problems: list[str] = []
    issued: Counter[tuple[str, str, int]] = Counter()
    for e in events:
        number = e.payload.get("ticket_number")
        if e.kind == "check_in" and e.outcome == "applied" and isinstance(number, int):
            issued[(str(e.payload["room_id"]), str(e.payload["service_day"]), number)] += 1
    twice = [k for k, n in issued.items() if n > 1]
    if twice:
        problems.append(f"ticket numbers issued twice by stations: {twice[:10]}")
    with sqlite3.connect(f"file:{central_db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT room_id, service_day, ticket_number, count(*) FROM queue_entries "
            "GROUP BY room_id, service_day, ticket_number HAVING count(*) > 1"
        ).fetchall()
    if rows:
        problems.append(f"equal ticket numbers in one room and day at central: {rows[:10]}")
    return problems


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def station_max_seq(station_db: Path) -> int:
    """Highest station_seq the station wrote (outbox or its next_seq watermark)."""
    conn = _ro(station_db)
    try:
        row = conn.execute("SELECT MAX(station_seq) FROM outbox").fetchone()
        meta = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
    finally:
        conn.close()
    return max(int(row[0] or 0), int(meta[0]) - 1 if meta else 0)


def station_unacked(station_db: Path) -> int:
    conn = _ro(station_db)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE acked = 0").fetchone()[0])
    finally:
        conn.close()


def station_snapshot_versions(station_db: Path) -> dict[str, int]:
    """The room snapshot versions a station has cached (what its screen would show)."""
    conn = _ro(station_db)
    try:
        return {
            str(r[0]): int(r[1])
            for r in conn.execute("SELECT room_id, version FROM room_snapshots")
        }
    finally:
        conn.close()


def central_room_versions(central_db: Path) -> dict[str, int]:
    """Central's latest snapshot version of every room."""
    conn = _ro(central_db)
    try:
        return {
            str(r[0]): int(r[1]) for r in conn.execute("SELECT room_id, version FROM room_versions")
        }
    finally:
        conn.close()


def convergence_gaps(central_db: Path, station_dbs: dict[str, Path]) -> list[str]:
    """What still differs between central and the stations; empty when converged.

    Converged: every outbox is drained and every station's cached snapshot version of every
    room equals central's latest.
    """
    gaps: list[str] = []
    try:
        latest = central_room_versions(central_db)
    except sqlite3.Error as e:
        return [f"central database not readable: {e}"]
    for sid, path in sorted(station_dbs.items()):
        try:
            unacked = station_unacked(path)
            held = station_snapshot_versions(path)
        except sqlite3.Error as e:
            gaps.append(f"{sid}: station database not readable: {e}")
            continue
        if unacked:
            gaps.append(f"{sid}: {unacked} events not acked")
        behind = {r: (held.get(r), v) for r, v in latest.items() if held.get(r) != v}
        if behind:
            gaps.append(f"{sid}: {len(behind)} rooms behind, e.g. {sorted(behind.items())[:3]}")
    return gaps


def wait_converged(
    central_db: Path, station_dbs: dict[str, Path], limit_s: float, poll_s: float = 0.1
) -> float:
    """Seconds until `convergence_gaps` is empty; AssertionError with the gaps after `limit_s`."""
    start = time.monotonic()
    gaps: list[str] = []
    while time.monotonic() - start < limit_s:
        gaps = convergence_gaps(central_db, station_dbs)
        if not gaps:
            return time.monotonic() - start
        time.sleep(poll_s)
    raise AssertionError(f"not converged within {limit_s}s: {gaps}")
