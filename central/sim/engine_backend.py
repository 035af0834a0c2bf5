"""Drive central's real `Engine` in-process: the simulation's taps become station
`EventBatch`es (HLC, station_seq, keyed card hashes) and its staff actions become
`call_next` / `start` / `complete` / `miss` / `pay` calls, on a `FakeClock` the simulation moves.

The engine runs on SQLite (a temp file unless a database URL is given). Every operation is a
real committed transaction, so this is much slower than the pure model: use it to check that a
day's load goes through the engine, and to produce the engine's own audit and events.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from central.clock import FakeClock
from central.config import QueueSettings, SiteSettings
from central.engine import Engine, Rejected, WaitEstimator
from central.engine.loader import HospitalData, PatientIn, StepIn, VisitIn
from central.sim.backend import Booking, QueueModelError
from central.sim.config import SimConfig
from central.store import Database
from protocol.hlc import HybridLogicalClock
from protocol.ids import card_hash
from protocol.messages import CheckInEvent, EventBatch, TapEvent, TapOutcome

SIM_SITE_KEY = b"nfc-hospital-simulator-site-key!"
ACTOR = "sim"
_STEP_KINDS = {"consultation", "exam", "procedure", "imaging", "lab", "payment"}


def card_uid(index: int) -> str:
    """The simulated card UID of the `index`-th booked visit's patient (7-byte NFC UID)."""
    return f"04{index:012X}"


class _Station:
    """A simulated station at a room's door: its own HLC and gap-free sequence numbers."""

    def __init__(self, station_id: str, clock: FakeClock) -> None:
        self.station_id = station_id
        self.seq = 0
        self.hlc = HybridLogicalClock(
            station_id, physical_ms=lambda: int(clock.now().timestamp() * 1000)
        )


class EngineQueue:
    """A `QueueBackend` over central's Engine (the engine decides order, requeues, numbers)."""

    books_rooms = True

    def __init__(
        self,
        config: SimConfig,
        database_url: str,
        *,
        timezone: str = "Asia/Seoul",
        estimator: WaitEstimator | None = None,
        seed: int = 0,
        clock: FakeClock | None = None,
    ) -> None:
        """`database_url`: SQLAlchemy URL or a SQLite file path (migrated here). `clock` (made
        here when None) is moved to each operation's simulated time; share it with the
        estimator."""
        self.config = config
        self.tz = ZoneInfo(timezone)
        self.midnight = datetime.combine(config.service_day, time(0), tzinfo=self.tz)
        self.clock = clock or FakeClock(self.midnight + timedelta(hours=5))
        self.db = Database(database_url)
        self.db.migrate()
        self.engine = Engine(
            self.db,
            site_key=SIM_SITE_KEY,
            site=SiteSettings(timezone=timezone),
            queue=QueueSettings(
                missed_requeue_after=config.missed_requeue_after,
                no_show_after_calls=config.no_show_after_calls,
            ),
            clock=self.clock,
            estimator=estimator,
        )
        self._ids = random.Random(seed)
        self._stations: dict[str, _Station] = {}
        self._cards: dict[str, str] = {}  # visit_id -> card hash
        self._steps: dict[str, int] = {}  # visit_id -> step index the simulation is on
        self.rejects: Counter[str] = Counter()
        self.operations = 0
        # An estimator that learns from the engine's audit rows (RoomStatsEstimator) is fed
        # them before each operation, as a central worker would after each commit.
        self._feed = getattr(estimator, "observe_audit", None)
        self._audit_after = 0
        self._load_hospital(config.hospital_file)

    def close(self) -> None:
        """Release the database."""
        self.engine.close()

    # ------------------------------------------------------------------ plumbing

    def _tick(self, t: float) -> None:
        if self._feed is not None:
            self._pump_audit()
        at = self.midnight + timedelta(seconds=t)
        if at > self.clock.now():
            self.clock.set(at)
        self.operations += 1

    def _pump_audit(self) -> None:
        assert self._feed is not None
        while True:
            rows = self.engine.audit(after_id=self._audit_after, limit=500)
            for row in rows:
                self._feed(row)
                self._audit_after = row.audit_id
            if len(rows) < 500:
                return

    def _load_hospital(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        stations = [
            {"station_id": f"st-{r['room_id']}", "name": r["name"], "node_id": r.get("node_id")}
            for r in data["rooms"]
        ]
        hospital = HospitalData.model_validate(
            {"departments": data["departments"], "rooms": data["rooms"], "stations": stations}
        )
        self.engine.load(hospital, actor=ACTOR)

    def _station(self, room_id: str) -> _Station:
        station = self._stations.get(room_id)
        if station is None:
            station = self._stations[room_id] = _Station(f"st-{room_id}", self.clock)
        return station

    def _send(self, room_id: str, event: CheckInEvent | TapEvent) -> list[str]:
        """Send one event as a batch from the room's station; returns reject reasons."""
        station = self._station(room_id)
        result = self.engine.apply_batch(
            EventBatch(station_id=station.station_id, sent_at=self.clock.now(), events=[event])
        )
        reasons = [r.reason for r in result.rejects]
        self.rejects.update(reasons)
        return reasons

    def _event_fields(self, room_id: str) -> dict[str, object]:
        station = self._station(room_id)
        station.seq += 1
        return {
            "event_id": uuid.UUID(int=self._ids.getrandbits(128), version=4),
            "station_seq": station.seq,
            "hlc": station.hlc.now().to_text(),
            "wall_time": self.clock.now(),
        }

    def _position(self, room_id: str, visit_id: str) -> int:
        for entry in self.engine.room_snapshot(room_id).waiting:
            if entry.visit_id == visit_id:
                return entry.position or 1
        raise QueueModelError(f"{visit_id} is not waiting in {room_id}")

    # ------------------------------------------------------------------ QueueBackend

    def book(self, bookings: list[Booking], t: float) -> None:
        self._tick(t)
        patients, visits = [], []
        for b in bookings:
            reg = f"SIM{b.index:06d}"
            uid = card_uid(b.index)
            self._cards[b.visit_id] = card_hash(SIM_SITE_KEY, uid)
            name = f"모의환자{b.index}"
            patients.append(PatientIn(registration_no=reg, name=name, card_uids=[uid]))
            visits.append(
                VisitIn(
                    visit_id=b.visit_id,
                    registration_no=reg,
                    service_day=self.config.service_day,
                    priority=b.priority,
                    steps=[
                        StepIn(room_id=r, kind=k if k in _STEP_KINDS else "other")
                        for r, k in zip(b.rooms, b.kinds, strict=True)
                    ],
                )
            )
        self.engine.load(HospitalData(patients=patients, visits=visits), actor=ACTOR)

    def check_in(self, visit_id: str, room_id: str, priority: int, step: int, t: float) -> int:
        self._tick(t)
        event = CheckInEvent(
            kind="check_in",
            card_hash=self._cards[visit_id],
            visit_id=visit_id,
            room_id=room_id,
            step_index=step,
            service_day=self.config.service_day,
            ticket_number=None,
            **self._event_fields(room_id),
        )
        reasons = self._send(room_id, event)
        if reasons:
            raise QueueModelError(f"check-in of {visit_id} in {room_id} refused: {reasons}")
        return self._position(room_id, visit_id)

    def tap(self, visit_id: str, room_id: str, outcome: str, t: float) -> None:
        self._tick(t)
        if outcome == "wrong_station":
            # A station with a stale directory takes the tap as a check-in for its own room:
            # central refuses it (wrong_room) and nothing changes.
            event: CheckInEvent | TapEvent = CheckInEvent(
                kind="check_in",
                card_hash=self._cards[visit_id],
                visit_id=visit_id,
                room_id=room_id,
                step_index=0,
                service_day=self.config.service_day,
                ticket_number=None,
                **self._event_fields(room_id),
            )
        else:
            tap_outcome: TapOutcome = "called_now" if outcome == "called_now" else "already_waiting"
            event = TapEvent(
                kind="tap",
                card_hash=self._cards[visit_id],
                visit_id=visit_id,
                outcome=tap_outcome,
                **self._event_fields(room_id),
            )
        self._send(room_id, event)

    def call_next(self, room_id: str, desk: int, t: float) -> str | None:
        self._tick(t)
        try:
            result = self.engine.call_next(room_id, actor=ACTOR, desk=str(desk))
        except Rejected as e:
            if e.reason == "queue_empty":
                return None
            raise
        return result.visit.visit_id

    def start(self, visit_id: str, t: float) -> None:
        self._tick(t)
        self.engine.start(visit_id, actor=ACTOR)

    def complete(self, visit_id: str, t: float) -> tuple[str, int] | None:
        self._tick(t)
        visit = self.engine.complete(visit_id, actor=ACTOR).visit
        if visit.room_id is not None and visit.queue_state == "WAITING":
            return visit.room_id, self._position(visit.room_id, visit_id)
        return None

    def finish(self, visit_id: str, t: float) -> None:
        self._tick(t)
        self.engine.pay(visit_id, actor=ACTOR)

    def miss(self, visit_id: str, t: float) -> bool:
        self._tick(t)
        visit = self.engine.miss(visit_id, actor=ACTOR).visit
        return visit.queue_state == "WAITING"

    def cancel(self, visit_id: str, t: float) -> None:
        self._tick(t)
        try:
            self.engine.cancel(visit_id, actor=ACTOR)
        except Rejected as e:
            # In the room when the day is cut off: the engine keeps it (cannot cancel an exam).
            self.rejects[f"cancel:{e.reason}"] += 1

    def waiting(self, room_id: str) -> list[str]:
        return [e.visit_id for e in self.engine.room_snapshot(room_id).waiting]


__all__ = ["SIM_SITE_KEY", "EngineQueue", "card_uid"]
