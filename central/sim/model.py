"""The discrete-event simulation of an outpatient day (a heapq of timed events).

Everything random comes from the injected `random.Random`, so a seed gives the same day.
Time `t` is simulated seconds since local midnight of the service day.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from central.sim import events as ev
from central.sim.backend import Booking, PureQueue, QueueBackend
from central.sim.config import SimConfig, load_hospital
from central.sim.events import Observer, SimEvent
from protocol.errors import ConfigError

log = logging.getLogger(__name__)

NORMAL_PRIORITY = 5
URGENT_PRIORITY = 0


def hhmm(text: str) -> float:
    """'08:30' -> seconds since midnight."""
    hh, mm = text.split(":")
    return int(hh) * 3600.0 + int(mm) * 60.0


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """A room as the simulation uses it."""

    room_id: str
    kind: str
    avg_service_s: float
    capacity: int
    staff: int


@dataclass(slots=True)
class _Visit:
    visit_id: str
    mix: str
    steps: list[str]
    rooms: list[str | None]  # pre-booked room per step (None: chosen on arrival)
    priority: int
    booked_at: float
    step: int = 0
    room_id: str | None = None
    abandons: bool = False
    ended: bool = False


@dataclass(slots=True)
class _Desk:
    busy_with: str | None = None
    call_pending: bool = False


@dataclass(slots=True)
class _RoomState:
    spec: RoomSpec
    desks: list[_Desk] = field(default_factory=list)


class Simulation:
    """One simulated day. `run()` drives it to the end and returns the number of events."""

    def __init__(
        self,
        config: SimConfig,
        rng: random.Random,
        *,
        backend: QueueBackend | None = None,
        observers: Iterable[Observer] = (),
        room_factors: dict[str, float] | None = None,
        day_offset_s: float = 0.0,
        id_prefix: str = "v",
    ) -> None:
        """`room_factors`: each room's real mean / configured average (drawn when None).
        `day_offset_s` shifts all times (several days in one timeline)."""
        self.config = config
        self.rng = rng
        self.backend: QueueBackend = backend or PureQueue(
            config.missed_requeue_after, config.no_show_after_calls
        )
        self.observers = list(observers)
        self.rooms = self._load_rooms(config)
        self.room_factors = room_factors or draw_room_factors(config, self.rooms, rng)
        self.offset = day_offset_s
        self.opens_at = day_offset_s + hhmm(config.opens_at)
        self.close_by = day_offset_s + hhmm(config.close_by)
        self.visits: dict[str, _Visit] = {}
        self.arrived: set[str] = set()
        self._heap: list[tuple[float, int, Callable[..., None], tuple[object, ...]]] = []
        self._seq = 0
        self.now = day_offset_s
        self._id_prefix = id_prefix

    @staticmethod
    def _load_rooms(config: SimConfig) -> dict[str, _RoomState]:
        records = load_hospital(config.hospital_file)
        used = {r for g in config.groups.values() for r in g.rooms}
        unknown = sorted(used - records.keys())
        if unknown:
            raise ConfigError(f"groups name rooms not in {config.hospital_file}: {unknown}")
        rooms: dict[str, _RoomState] = {}
        for room_id in sorted(used):
            rec = records[room_id]
            kind = str(rec["kind"])
            if kind not in config.service:
                raise ConfigError(f"service: no distribution for room kind {kind!r} ({room_id})")
            capacity = int(str(rec["capacity"]))
            staff = config.staff.get(room_id, capacity) * config.staff_multiplier
            spec = RoomSpec(room_id, kind, float(str(rec["avg_service_s"])), capacity, staff)
            rooms[room_id] = _RoomState(spec, [_Desk() for _ in range(staff)])
        return rooms

    # ------------------------------------------------------------------ plumbing

    def _at(self, t: float, fn: Callable[..., None], *args: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, args))

    def _emit(
        self,
        kind: str,
        visit: _Visit,
        *,
        room_id: str | None = None,
        desk: int | None = None,
        position: int | None = None,
        detail: str | None = None,
    ) -> None:
        event = SimEvent(
            self.now, kind, visit.visit_id, room_id, desk, position, visit.priority, detail
        )
        for obs in self.observers:
            obs.on_event(event)

    def _exp(self, mean: float) -> float:
        return self.rng.expovariate(1.0 / mean) if mean > 0 else 0.0

    # ------------------------------------------------------------------ the day

    def book(self) -> None:
        """Book the day's visits and schedule their arrivals."""
        cfg, rng = self.config, self.rng
        hours = sorted(cfg.arrivals_by_hour)
        hour_weights = [cfg.arrivals_by_hour[h] for h in hours]
        mix_weights = [m.weight for m in cfg.mixes]
        width = len(str(cfg.visits))
        bookings: list[Booking] = []
        for i in range(1, cfg.visits + 1):
            mix = rng.choices(cfg.mixes, mix_weights)[0]
            hour = rng.choices(hours, hour_weights)[0]
            booked = self.offset + hour * 3600.0 + rng.uniform(0, 3600.0)
            rooms: list[str | None] = []
            for step in mix.steps:
                group = cfg.groups[step]
                fixed = group.choose == "random" or self.backend.books_rooms
                rooms.append(rng.choice(group.rooms) if fixed else None)
            urgent = rng.random() < cfg.priority_rate
            visit = _Visit(
                visit_id=f"{self._id_prefix}{i:0{width}d}",
                mix=mix.name,
                steps=list(mix.steps),
                rooms=rooms,
                priority=URGENT_PRIORITY if urgent else NORMAL_PRIORITY,
                booked_at=booked,
            )
            self.visits[visit.visit_id] = visit
            bookings.append(
                Booking(
                    visit.visit_id,
                    i,
                    visit.priority,
                    tuple(r or "" for r in rooms),
                    tuple(self.rooms[r].spec.kind if r else "" for r in rooms),
                )
            )
            if rng.random() < cfg.no_show_rate:
                # Never comes: the visit is closed as a no-show when the day is cut off.
                continue
            arrive = booked
            if rng.random() < cfg.late_rate:
                arrive += self._exp(cfg.late_mean_s)
            self._at(arrive, self._arrive, visit, arrive > booked)
        self.backend.book(bookings, self.now)
        self._at(self.close_by, self._close)

    def every(self, interval_s: float, fn: Callable[[float], None]) -> None:
        """Call `fn(t)` every `interval_s` from opening until the day is cut off (for
        observers that look at the queues at set times)."""

        def tick() -> None:
            fn(self.now)
            if self.now + interval_s < self.close_by:
                self._at(self.now + interval_s, tick)

        self._at(self.opens_at, tick)

    def run(self) -> int:
        """Book the visits and play the day to the end; returns the number of events run."""
        self.book()
        n = 0
        heap = self._heap
        while heap:
            t, _seq, fn, args = heapq.heappop(heap)
            self.now = t
            fn(*args)
            n += 1
        log.info(
            "sim.day_done visits=%d arrived=%d steps=%d", len(self.visits), len(self.arrived), n
        )
        return n

    def _arrive(self, visit: _Visit, late: bool) -> None:
        if visit.ended:
            return
        self.arrived.add(visit.visit_id)
        self._emit(ev.ARRIVE, visit, detail="late" if late else None)
        self._at(self.now + self._exp(self.config.walk_s), self._reach, visit, True)

    def _reach(self, visit: _Visit, may_stray: bool) -> None:
        """The patient is at the station of their current step's room."""
        if visit.ended:
            return
        cfg, rng = self.config, self.rng
        if visit.room_id is not None:
            # Already queued there by the backend when the last step was completed: the
            # patient taps anyway and is told they are waiting (or being called).
            desks = self.rooms[visit.room_id].desks
            called = any(d.busy_with == visit.visit_id for d in desks)
            outcome = "called_now" if called else "already_waiting"
            self.backend.tap(visit.visit_id, visit.room_id, outcome, self.now)
            self._emit(ev.TAP, visit, room_id=visit.room_id, detail=outcome)
            return
        room_id = visit.rooms[visit.step]
        if room_id is None:
            group = cfg.groups[visit.steps[visit.step]]
            room_id = min(group.rooms, key=lambda r: (len(self.backend.waiting(r)), rng.random()))
        if may_stray and rng.random() < cfg.wrong_station_rate:
            wrong = rng.choice([r for r in self.rooms if r != room_id])
            self.backend.tap(visit.visit_id, wrong, "wrong_station", self.now)
            self._emit(ev.TAP, visit, room_id=wrong, detail="wrong_station")
            self._at(self.now + self._exp(60.0), self._reach, visit, False)
            return
        visit.room_id = room_id
        position = self.backend.check_in(
            visit.visit_id, room_id, visit.priority, visit.step, self.now
        )
        visit.abandons = rng.random() < cfg.abandon_rate
        self._emit(ev.CHECK_IN, visit, room_id=room_id, position=position)
        if rng.random() < cfg.double_tap_rate:
            self._at(self.now + rng.uniform(2.0, 90.0), self._tap_again, visit, visit.step)
        self._wake_desks(room_id)

    def _tap_again(self, visit: _Visit, step: int) -> None:
        if visit.ended or visit.step != step or visit.room_id is None:
            return
        self.backend.tap(visit.visit_id, visit.room_id, "already_waiting", self.now)
        self._emit(ev.TAP, visit, room_id=visit.room_id, detail="already_waiting")

    def _wake_desks(self, room_id: str) -> None:
        """An idle desk of the room calls someone after a short while."""
        for i, desk in enumerate(self.rooms[room_id].desks):
            if desk.busy_with is None and not desk.call_pending:
                desk.call_pending = True
                when = max(self.now, self.opens_at) + self._exp(self.config.call_gap_s)
                self._at(when, self._desk_call, room_id, i)
                return

    def _desk_call(self, room_id: str, desk_no: int) -> None:
        desk = self.rooms[room_id].desks[desk_no]
        desk.call_pending = False
        if self.now >= self.close_by:
            return
        visit_id = self.backend.call_next(room_id, desk_no + 1, self.now)
        if visit_id is None:
            return
        visit = self.visits[visit_id]
        desk.busy_with = visit_id
        self._emit(ev.CALL, visit, room_id=room_id, desk=desk_no + 1)
        if visit.abandons or self.rng.random() < self.config.miss_call_rate:
            self._at(self.now + self.config.call_timeout_s, self._missed, visit, room_id, desk_no)
        else:
            answer = min(self._exp(self.config.answer_call_s), self.config.call_timeout_s * 0.9)
            self._at(self.now + answer, self._start, visit, room_id, desk_no)

    def _service_time(self, spec: RoomSpec) -> float:
        kind = self.config.service[spec.kind]
        hour = int((self.now - self.offset) // 3600)
        mean = (
            spec.avg_service_s
            * self.room_factors[spec.room_id]
            * self.config.service_by_hour.get(hour, 1.0)
        )
        if kind.dist == "gamma":
            shape = 1.0 / kind.cv**2
            return self.rng.gammavariate(shape, mean / shape)
        sigma2 = math.log1p(kind.cv**2)
        return self.rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))

    def _start(self, visit: _Visit, room_id: str, desk_no: int) -> None:
        if visit.ended:
            return
        self.backend.start(visit.visit_id, self.now)
        self._emit(ev.START, visit, room_id=room_id, desk=desk_no + 1)
        spec = self.rooms[room_id].spec
        self._at(self.now + self._service_time(spec), self._complete, visit, room_id, desk_no)

    def _free_desk(self, room_id: str, desk_no: int) -> None:
        desk = self.rooms[room_id].desks[desk_no]
        desk.busy_with = None
        if self.backend.waiting(room_id) and not desk.call_pending:
            desk.call_pending = True
            self._at(
                self.now + self._exp(self.config.call_gap_s), self._desk_call, room_id, desk_no
            )

    def _complete(self, visit: _Visit, room_id: str, desk_no: int) -> None:
        if visit.ended:
            return
        queued = self.backend.complete(visit.visit_id, self.now)
        self._emit(ev.COMPLETE, visit, room_id=room_id, desk=desk_no + 1)
        self._free_desk(room_id, desk_no)
        visit.room_id = None
        visit.step += 1
        if visit.step < len(visit.steps):
            if queued is not None:
                visit.room_id, position = queued
                visit.abandons = self.rng.random() < self.config.abandon_rate
                self._emit(ev.CHECK_IN, visit, room_id=visit.room_id, position=position)
                self._wake_desks(visit.room_id)
            self._at(self.now + self._exp(self.config.walk_s), self._reach, visit, True)
        else:
            visit.ended = True
            self.backend.finish(visit.visit_id, self.now)
            self._emit(ev.FINISH, visit)

    def _missed(self, visit: _Visit, room_id: str, desk_no: int) -> None:
        if visit.ended:
            return
        back_in_line = self.backend.miss(visit.visit_id, self.now)
        self._emit(ev.MISS, visit, room_id=room_id, desk=desk_no + 1)
        self._free_desk(room_id, desk_no)
        if not back_in_line:
            visit.ended = True
            visit.room_id = None
            self._emit(ev.NO_SHOW, visit, room_id=room_id, detail="missed_calls")

    def _close(self) -> None:
        """End of the day: patients who never came are no-shows, open visits are cancelled."""
        for visit in self.visits.values():
            if visit.ended:
                continue
            visit.ended = True
            if visit.visit_id not in self.arrived:
                self._emit(ev.NO_SHOW, visit, detail="never_came")
            else:
                self.backend.cancel(visit.visit_id, self.now)
                self._emit(ev.CANCEL, visit, room_id=visit.room_id, detail="day_closed")
                visit.room_id = None


def draw_room_factors(
    config: SimConfig, rooms: Iterable[str], rng: random.Random
) -> dict[str, float]:
    """Each room's real mean service time / its configured average (configs are never exact)."""
    s = config.room_speed_spread
    return {r: math.exp(rng.gauss(-s * s / 2, s)) if s else 1.0 for r in sorted(rooms)}
