"""The wait estimator: expected wait and intervals from each room's recent desk cycles.

Per room it keeps, incrementally (updated on each queue event, never rescanned per estimate):

- the last N *desk cycles* (call -> desk free: complete, or the missed call given up), summarised
  robustly in log space (median and MAD -> lognormal mean and spread), shrunk towards a prior:
  the room's hour-of-day figure from earlier days, or its configured average when that is thin;
- the mean gap between a desk freeing and its next call;
- the calls in progress (which desk is busy since when).

The patient at place p waits for the p-th desk to come free: the residual time of each busy desk
(lognormal conditional on the time already spent) and then whole cycles, shared by the staff.
A model spread (cycle variance, residual variance, uncertainty of the mean) gives a standard
deviation; the interval is calibrated online from the standardized errors of the estimator's own
past forecasts (its forecast when a patient joined vs. when they were called).
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import Field

from central.clock import Clock, SystemClock
from central.engine import AuditRecord, RoomInfo, WaitEstimate
from central.engine.types import WaitLine
from protocol.base import Model
from protocol.journey import Action

_SQRT2 = math.sqrt(2.0)


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


class EstimatorSettings(Model):
    """Tuning of the wait estimator (defaults chosen on simulated days, see docs/estimator.md)."""

    window: int = Field(default=30, ge=3, le=500, description="Recent desk cycles kept per room.")
    horizon_s: float = Field(
        default=3 * 3600, gt=0, description="Cycles older than this are not 'recent'."
    )
    min_recent: int = Field(
        default=12,
        ge=0,
        description="Cycles used even when older than the horizon (a slow room has few), if "
        "from the last 12 hours.",
    )
    opening_wait_s: float = Field(
        default=300,
        ge=0,
        description="A day's first call counts as the room's opening time only if that "
        "patient had waited this long.",
    )
    prior_weight: float = Field(
        default=4, ge=0, description="Pseudo-cycles of the prior mixed into the recent figure."
    )
    hour_window: int = Field(
        default=60, ge=3, description="Cycles kept per room and hour of day (across days)."
    )
    hour_min: int = Field(
        default=8, ge=1, description="Cycles an hour needs before it replaces the configured avg."
    )
    prior_cv: float = Field(
        default=0.6, gt=0, description="Spread of cycles assumed before any is seen."
    )
    calibration_size: int = Field(
        default=600, ge=20, description="Past standardized errors kept for the interval."
    )
    calibration_min: int = Field(
        default=40, ge=5, description="Errors needed before they replace the default interval."
    )
    ahead_decay: float = Field(
        default=0.97,
        gt=0,
        le=1,
        description="Forgetting factor of the rate at which others get ahead in line.",
    )
    ahead_prior_s: float = Field(
        default=3600,
        ge=0,
        description="Seconds of waiting with nobody getting ahead assumed before any is seen.",
    )
    bound_quantile: float = Field(
        default=0.96,
        gt=0.5,
        lt=1,
        description="Quantile of past errors used for the 95% bound: a little above 0.95 "
        "because the errors drift during a day and the calibration lags behind them.",
    )
    drift: float = Field(
        default=0.1,
        ge=0,
        description="Relative error of the mean service time over a wait (things change).",
    )


@dataclass(frozen=True, slots=True)
class WaitForecast:
    """A wait forecast in seconds: the median, an 80% interval and a 95% upper bound."""

    expected_s: float
    low80_s: float
    high80_s: float
    high95_s: float


# Quantiles (10, 50, 90, 95%) of the standardized error before any is measured: a right-skewed
# shape, a little wider than normal, so a cold room does not promise too much.
_DEFAULT_Z = (-1.1, -0.1, 1.4, 2.0)
_BANDS = (1, 3, 8)  # places in line 1, 2-3, 4-8, 9 and later


def _band(position: int) -> int:
    for i, last in enumerate(_BANDS):
        if position <= last:
            return i
    return len(_BANDS)


@dataclass(slots=True)
class _Cycles:
    """Robust summary of a sample of cycle durations (log-space median and MAD)."""

    samples: deque[tuple[float, float]]
    mean: float = 0.0
    var: float = 0.0
    mu: float = 0.0
    sigma: float = 0.0
    n: int = 0

    def refresh(self, since: float, min_n: int = 0, oldest: float = -math.inf) -> None:
        """Summarise the samples from `since` on, or at least the last `min_n` of them that
        are newer than `oldest` (a slow room has few cycles in the horizon)."""
        chosen = [d for t, d in self.samples if t >= since]
        if len(chosen) < min_n:
            chosen = [d for t, d in list(self.samples)[-min_n:] if t >= oldest]
        logs = sorted(math.log(max(d, 1.0)) for d in chosen)
        self.n = len(logs)
        if not logs:
            return
        mu = (
            logs[len(logs) // 2]
            if len(logs) % 2
            else 0.5 * (logs[len(logs) // 2 - 1] + logs[len(logs) // 2])
        )
        dev = sorted(abs(x - mu) for x in logs)
        mad = dev[len(dev) // 2]
        sigma = min(max(1.4826 * mad, 0.1), 1.5)
        self.mu, self.sigma = mu, sigma
        self.mean = math.exp(mu + sigma * sigma / 2)
        self.var = self.mean * self.mean * math.expm1(sigma * sigma)


@dataclass(slots=True)
class _Room:
    avg_s: float
    capacity: int
    seen: bool = False
    recent: _Cycles = field(default_factory=lambda: _Cycles(deque()))
    by_hour: dict[int, _Cycles] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)  # visit_id -> called at
    waiting: dict[str, tuple[float, float, float, int, int]] = field(default_factory=dict)
    """visit_id -> (joined at, forecast mean, forecast sd, calls so far, position), for
    calibration and for counting who got in ahead."""
    calls: int = 0
    last_call_day: int = -1
    openings: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    opening_s: float | None = None
    """Typical local time of day of the room's first call (median over earlier days)."""
    # Patients who got ahead of someone already waiting (priority class, a missed call put
    # back in line), per second of waiting: decayed sums.
    ahead_n: float = 0.0
    ahead_s: float = 0.0
    frees: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    """When a desk came free with patients waiting (for the call gap)."""
    gap_s: float = 15.0
    gap_n: int = 0
    # Combined figures, refreshed on every new cycle: the cycle mean/var and lognormal params.
    m: float = 0.0
    v: float = 0.0
    mu: float = 0.0
    sigma: float = 0.0
    se2: float = 0.0  # variance of the estimate of m
    m_hour: int = -1


def _since(entry: float | tuple[float, float, float, int, int]) -> float:
    return entry[0] if isinstance(entry, tuple) else float(entry)


def local_clock(timezone: str) -> Callable[[float], float]:
    """POSIX timestamp -> seconds since the local epoch in `timezone` (for an estimator fed
    engine times: day = x // 86400, time of day = x % 86400)."""
    tz = ZoneInfo(timezone)

    def local(t: float) -> float:
        offset = tz.utcoffset(datetime.fromtimestamp(t, tz))
        return t + (offset.total_seconds() if offset else 0.0)

    return local


def _sim_clock(t: float) -> float:
    # The simulator already counts seconds from local midnight.
    return t


class _Line:
    """The wait model of one room at one moment, asked for places 1, 2, 3 ... in turn.

    What does not depend on the place (the desks' residual times, the slow-down by others
    getting ahead, the wait for the room to open) is worked out once; when a desk has been
    busy for longer than a whole cycle the desks are played forward one place at a time,
    continuing from the last place asked, so a whole line costs O(places), not O(places²).
    """

    __slots__ = (
        "avg", "c", "cold", "cycle", "delay", "drift", "flat", "heap", "k", "m", "played",
        "residuals", "se2", "slow", "v",
    )  # fmt: skip

    def __init__(self, est: RoomStatsEstimator, room: _Room, now: float) -> None:
        self.c, self.m, self.v = room.capacity, room.m, room.v
        self.drift = est.settings.drift
        self.avg = room.avg_s
        self.se2 = room.se2
        # Cold start: nothing known of this room yet, not even who is at the desks.
        self.cold = not room.seen
        if self.cold:
            return
        gap = room.gap_s
        cycle = self.cycle = self.m + gap
        residuals = [gap] * max(0, self.c - len(room.busy))
        for called in room.busy.values():
            residuals.append(est._residual(room, now - called) + gap)
        residuals.sort()
        self.residuals = residuals
        self.k = len(residuals)
        self.flat = residuals[-1] <= cycle
        self.heap = list(residuals)  # sorted, so already a heap
        self.played = 0
        # Others who will get ahead meanwhile (priority patients, missed calls put back) slow
        # the line down: each takes a cycle of one desk.
        rate = room.ahead_n / (room.ahead_s + est.settings.ahead_prior_s)
        self.slow = 1.0 / (1.0 - min(rate * cycle / self.k, 0.5))
        # Before the room's first call of the day nobody is called: wait for it to open.
        self.delay = 0.0
        if room.opening_s is not None:
            local = est._local(now)
            if int(local // 86400) != room.last_call_day and local % 86400 < room.opening_s:
                self.delay = room.opening_s - local % 86400

    def at(self, position: int) -> tuple[float, float, float]:
        """Mean, sd (model only, before calibration) and median of the wait for `position`."""
        m, v, drift = self.m, self.v, self.drift
        if self.cold:
            c = self.c
            mean = position * self.avg / c
            dm = drift * mean
            return mean, math.sqrt(position * v / (c * c) + dm * dm), mean
        cycle, k = self.cycle, self.k
        q, r = divmod(position - 1, k)
        if self.flat:
            first = self.residuals[r]
            queue = first + q * cycle
        else:
            # A desk is busy for longer than a whole cycle: play the desks forward.
            heap = self.heap
            if self.played > position - 1:  # asked out of order: start again
                heap[:] = self.residuals
                self.played = 0
            for _ in range(position - 1 - self.played):
                heapq.heapreplace(heap, heap[0] + cycle)
            self.played = position - 1
            first = queue = heap[0]
        slow = self.slow
        queue *= slow
        first *= slow
        # Whole cycles each desk runs before this patient's turn (0 for the first k places:
        # they only wait for a desk to come free).
        rounds = q * slow
        dq = drift * queue  # squared by a product, as `_line_arrays` does (no pow())
        var = first * first + rounds * v / k + rounds * rounds * self.se2 + dq * dq
        # The median of a right-skewed sum of q + 1 cycles (lognormal approximation): it gives
        # a smaller absolute error than the mean. The factor depends only on the round q, so a
        # later place in line never gets a shorter forecast.
        shrink = 1.0 / math.sqrt(1.0 + v / (m * m) / (q + 1) + drift * drift)
        return self.delay + queue, math.sqrt(var), self.delay + queue * shrink


_ARRAY_MIN = 64
"""Lines at least this long are worked out with numpy when no desk overran a cycle."""


def _line_arrays(line: _Line, zq: list[tuple[float, float, float, float]], count: int) -> WaitLine:
    """`_Line.at` and the calibration of `estimate_line` for places 1 .. count at once, for a
    cold room or one whose desks all come free within a cycle (no desk to play forward).
    The same operations in the same order on float64 (IEEE, as Python's floats), so the same
    figures as the loop (tests/unit/test_snapshot_estimates.py compares them)."""
    m, v, drift = line.m, line.v, line.drift
    if line.cold:
        c = line.c
        position = np.arange(1, count + 1, dtype=np.int64)
        mean = position * line.avg / c
        dm = drift * mean
        sd = np.sqrt(position * v / (c * c) + dm * dm)
        median = mean
    else:
        k = line.k
        q, r = np.divmod(np.arange(count, dtype=np.int64), k)
        first = np.asarray(line.residuals, dtype=np.float64)[r]
        queue = first + q * line.cycle
        slow = line.slow
        queue = queue * slow
        first = first * slow
        rounds = q * slow
        dq = drift * queue
        var = first * first + rounds * v / k + rounds * rounds * line.se2 + dq * dq
        shrink = 1.0 / np.sqrt(1.0 + v / (m * m) / (q + 1) + drift * drift)
        mean = line.delay + queue
        sd = np.sqrt(var)
        median = line.delay + queue * shrink
    bands = np.array([zq[_band(p)] for p in range(1, min(count, _BANDS[-1] + 1) + 1)])
    z = np.empty((count, 4))
    z[: len(bands)] = bands
    z[len(bands) :] = zq[_band(_BANDS[-1] + 1)]
    low80 = np.minimum(np.maximum(0.0, mean + z[:, 0] * sd), median)
    high80 = np.maximum(mean + z[:, 2] * sd, median)
    high = np.maximum(mean + z[:, 3] * sd, high80)
    return WaitLine(
        np.rint(median).astype(np.int64).tolist(),
        np.rint(low80).astype(np.int64).tolist(),
        np.rint(high).astype(np.int64).tolist(),
    )


class RoomStatsEstimator:
    """Wait forecasts per room from observed queue events; implements the engine's
    `WaitEstimator` (`estimate(room, position)`), fed by `observe(...)` or `observe_audit(...)`.

    Times are float seconds (POSIX timestamps when fed from the engine); `local` maps a time to
    seconds since the local epoch (default: identity, as the simulator counts from local
    midnight; use `local_clock(site timezone)` for engine times).
    """

    def __init__(
        self,
        settings: EstimatorSettings | None = None,
        *,
        clock: Clock | None = None,
        local: Callable[[float], float] = _sim_clock,
    ) -> None:
        self.settings = settings or EstimatorSettings()
        self._clock = clock or SystemClock()
        self._local = local
        self._rooms: dict[str, _Room] = {}
        self._where: dict[str, str] = {}  # visit_id -> room it waits in or is called to
        self._day = -1
        # The engine may build snapshots on several threads while another feeds events.
        self._lock = threading.RLock()
        # Standardized errors and their quantiles, per band of places in line: the shape of
        # the error differs between "next" (one desk's remaining time) and far back (a sum).
        bands = len(_BANDS) + 1
        self._z = [deque[float](maxlen=self.settings.calibration_size) for _ in range(bands)]
        self._zq: list[tuple[float, float, float, float]] = [_DEFAULT_Z] * bands

    # ------------------------------------------------------------------ rooms

    def configure_room(self, room_id: str, avg_service_s: float, capacity: int) -> None:
        """Tell the estimator a room's configured average and its staff count."""
        with self._lock:
            self._configure_room(room_id, avg_service_s, capacity)

    def _configure_room(self, room_id: str, avg_service_s: float, capacity: int) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room(float(avg_service_s), max(1, capacity))
            self._combine(room, -1)
        else:
            room.capacity = max(1, capacity)
            if room.avg_s != avg_service_s:
                room.avg_s = float(avg_service_s)
                self._combine(room, room.m_hour)

    def _room(self, room_id: str) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            # Unknown room: a neutral prior until configure_room/estimate tells us more.
            room = self._rooms[room_id] = _Room(300.0, 1)
            self._combine(room, -1)
        return room

    def _combine(self, room: _Room, hour: int) -> None:
        """Mix the recent cycles with the prior (hour of day, else configured average)."""
        s = self.settings
        hour_stats = room.by_hour.get(hour)
        if hour_stats is not None and hour_stats.n >= s.hour_min:
            prior_m, prior_v = hour_stats.mean, hour_stats.var
        else:
            prior_m = room.avg_s
            prior_v = (s.prior_cv * prior_m) ** 2
        k0, rec = s.prior_weight, room.recent
        n = rec.n
        if n:
            m = (k0 * prior_m + n * rec.mean) / (k0 + n)
            v = (k0 * prior_v + n * rec.var) / (k0 + n)
        else:
            m, v = prior_m, prior_v
        room.m, room.v, room.m_hour = m, v, hour
        room.sigma = math.sqrt(math.log1p(v / (m * m)))
        room.mu = math.log(m) - room.sigma**2 / 2
        room.se2 = v / (k0 + n)

    # ------------------------------------------------------------------ events

    def observe(
        self,
        action: Action | str,
        room_id: str,
        visit_id: str,
        at: float,
        *,
        position: int | None = None,
    ) -> None:
        """A queue event in `room_id` at time `at` (check_in/rejoin/next_step/release/transfer
        in: joined; call; start; complete, miss, no_show: desk free; hold, cancel: left).
        `position` (optional, on joining) is the place in line; else the count of waiting."""
        with self._lock:
            self._observe(str(action), room_id, visit_id, at, position)

    def _observe(
        self, a: str, room_id: str, visit_id: str, at: float, position: int | None
    ) -> None:
        day = int(self._local(at) // 86400)
        if day != self._day:
            self._day = day
            self._forget_stale(at - 12 * 3600)
        room = self._room(room_id)
        room.seen = True
        if a in ("check_in", "rejoin", "next_step", "release", "transfer"):
            if visit_id in room.waiting:
                return
            other = self._where.get(visit_id)
            if other is not None and other != room_id:
                # Transferred: it left the other room's line without an event there.
                self._rooms[other].waiting.pop(visit_id, None)
                self._rooms[other].busy.pop(visit_id, None)
            self._where[visit_id] = room_id
            pos = position if position is not None else len(room.waiting) + 1
            mean, sd, _median = self._model(room, pos, at)
            room.waiting[visit_id] = (at, mean, sd, room.calls, pos)
        elif a == "call":
            joined = room.waiting.pop(visit_id, None)
            if joined is not None:
                self._calibrate(joined[4], at - joined[0], joined[1], joined[2])
                if joined[2] > 0:
                    ahead = room.calls - joined[3] - (joined[4] - 1)
                    decay = self.settings.ahead_decay
                    room.ahead_n = room.ahead_n * decay + max(ahead, 0)
                    room.ahead_s = room.ahead_s * decay + (at - joined[0])
            room.calls += 1
            local = self._local(at)
            day = int(local // 86400)
            if day != room.last_call_day:
                room.last_call_day = day
                # The day's first call shows when the room opened only if the patient had
                # been waiting for it; else the room was simply idle until they came.
                if joined is not None and at - joined[0] > self.settings.opening_wait_s:
                    room.openings.append(local % 86400)
                    ordered = sorted(room.openings)
                    room.opening_s = ordered[len(ordered) // 2]
            if room.frees:
                gap = at - room.frees.popleft()
                room.gap_n += 1
                room.gap_s += (gap - room.gap_s) / min(room.gap_n, 20)
            room.busy.setdefault(visit_id, at)
        elif a in ("complete", "miss", "no_show"):
            called = room.busy.pop(visit_id, None)
            if called is not None:
                self._add_cycle(room, at, at - called)
                if room.waiting:
                    room.frees.append(at)
            if a == "miss":
                # Back in line: counted as waiting, but a re-wait is not used to calibrate.
                room.waiting[visit_id] = (at, 0.0, 0.0, room.calls, 0)
            elif a == "no_show":
                room.waiting.pop(visit_id, None)
            if visit_id not in room.waiting:
                self._where.pop(visit_id, None)
        elif a in ("hold", "cancel"):
            room.waiting.pop(visit_id, None)
            room.busy.pop(visit_id, None)
            self._where.pop(visit_id, None)

    def _forget_stale(self, before: float) -> None:
        """Drop patients still 'waiting' or 'at a desk' from before `before`: visits left open
        at the end of a day, whose closing event never reached the estimator."""
        for room in self._rooms.values():
            for table in (room.waiting, room.busy):
                for visit_id in [v for v, x in table.items() if _since(x) < before]:
                    del table[visit_id]
                    self._where.pop(visit_id, None)
            room.frees.clear()

    def observe_audit(self, record: AuditRecord) -> None:
        """Feed one of the engine's audit rows (a journey transition with its room)."""
        if record.room_id is not None:
            self.observe(record.action, record.room_id, record.visit_id, record.at.timestamp())

    def _add_cycle(self, room: _Room, at: float, duration: float) -> None:
        s = self.settings
        room.recent.samples.append((at, duration))
        if len(room.recent.samples) > s.window:
            room.recent.samples.popleft()
        room.recent.refresh(at - s.horizon_s, s.min_recent, at - 12 * 3600)
        hour = int(self._local(at) % 86400 // 3600)
        hour_stats = room.by_hour.get(hour)
        if hour_stats is None:
            hour_stats = room.by_hour[hour] = _Cycles(deque(maxlen=s.hour_window))
        hour_stats.samples.append((at, duration))
        hour_stats.refresh(-math.inf)
        self._combine(room, hour)

    def _calibrate(self, position: int, actual: float, mean: float, sd: float) -> None:
        if sd <= 0:
            return
        band = _band(position)
        zs = self._z[band]
        zs.append((actual - mean) / sd)
        if len(zs) >= self.settings.calibration_min:
            ordered = sorted(zs)
            n = len(ordered) - 1
            levels = (0.10, 0.50, 0.90, self.settings.bound_quantile)
            q10, q50, q90, q95 = (ordered[round(q * n)] for q in levels)
            self._zq[band] = (q10, q50, q90, q95)

    # ------------------------------------------------------------------ forecasts

    def _model(self, room: _Room, position: int, now: float) -> tuple[float, float, float]:
        """Mean, sd (model only, before calibration) and median of the wait for `position`."""
        return _Line(self, room, now).at(position)

    def _residual(self, room: _Room, elapsed: float) -> float:
        """Expected time left of a cycle that has lasted `elapsed` (lognormal, conditional)."""
        if elapsed <= 0:
            return room.m
        mu, s = room.mu, room.sigma
        le = math.log(elapsed)
        tail = _phi((mu - le) / s)
        if tail < 1e-6:
            return 0.25 * room.m
        return max(room.m * _phi((mu + s * s - le) / s) / tail - elapsed, 0.0)

    def forecast(self, room_id: str, position: int, now: float) -> WaitForecast:
        """Forecast for the patient at `position` (1 = next) in `room_id` at time `now`."""
        with self._lock:
            return self._forecast(room_id, position, now)

    def _forecast(self, room_id: str, position: int, now: float) -> WaitForecast:
        mean, sd, median = self._model(self._current(room_id, now), max(1, position), now)
        return self._calibrated(position, mean, sd, median)

    def _current(self, room_id: str, now: float) -> _Room:
        """The room, with its figures for the hour of `now` (lock held)."""
        room = self._room(room_id)
        hour = int(self._local(now) % 86400 // 3600)
        if hour != room.m_hour and hour in room.by_hour:
            self._combine(room, hour)
        return room

    def _calibrated(self, position: int, mean: float, sd: float, median: float) -> WaitForecast:
        z10, _z50, z90, z95 = self._zq[_band(position)]
        # The point forecast is the model's median (a cold room: position x average / staff);
        # the interval is the mean plus calibrated quantiles of past standardized errors.
        expected = median
        low = min(max(0.0, mean + z10 * sd), expected)
        high80 = max(mean + z90 * sd, expected)
        high95 = max(mean + z95 * sd, high80)
        return WaitForecast(expected, low, high80, high95)

    def estimate(self, room: RoomInfo, position: int) -> WaitEstimate:
        """The engine's `WaitEstimator`: expected wait, 80% low end, 95% upper bound."""
        self.configure_room(room.room_id, room.avg_service_s, room.capacity)
        f = self.forecast(room.room_id, position, self._clock.now().timestamp())
        return WaitEstimate(
            expected_s=round(f.expected_s), low_s=round(f.low80_s), high_s=round(f.high95_s)
        )

    def estimate_line(self, room: RoomInfo, count: int) -> WaitLine:
        """`estimate(room, p)` for every place p = 1 .. count, the same figures, in one pass
        over the line (a room snapshot's waiting list): the room's state is read once and the
        desks are played forward once, not again for every place."""
        now = self._clock.now().timestamp()
        expected: list[int] = []
        low: list[int | None] = []
        high: list[int | None] = []
        with self._lock:
            self._configure_room(room.room_id, room.avg_service_s, room.capacity)
            line = _Line(self, self._current(room.room_id, now), now)
            zq = self._zq
            if count >= _ARRAY_MIN and (line.cold or line.flat):
                return _line_arrays(line, zq, count)
            z = zq[0]
            for position in range(1, count + 1):
                mean, sd, median = line.at(position)
                if position <= _BANDS[-1] + 1:  # the places after that share the last band
                    z = zq[_band(position)]
                # as `_calibrated`, without a WaitForecast per place
                low80 = min(max(0.0, mean + z[0] * sd), median)
                high80 = max(mean + z[2] * sd, median)
                expected.append(round(median))
                low.append(round(low80))
                high.append(round(max(mean + z[3] * sd, high80)))
        return WaitLine(expected, low, high)

    def recent_cycles(self, room_id: str) -> int:
        """Desk cycles of the room in the current recent figure (0 for an unknown room)."""
        room = self._rooms.get(room_id)
        return room.recent.n if room else 0

    def waiting_count(self, room_id: str) -> int:
        """Patients the estimator believes wait in the room (for checks and metrics)."""
        room = self._rooms.get(room_id)
        return len(room.waiting) if room else 0


__all__ = ["EstimatorSettings", "RoomStatsEstimator", "WaitForecast", "local_clock"]
