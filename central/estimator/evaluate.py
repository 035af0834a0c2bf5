"""Measure the estimator against the baselines on simulated days (time-ordered).

For each seed: the same hospital (room speeds drawn once) for `days` days in one timeline. The
first `warmup_days` only teach the models; on the later days every check-in is scored: each
model forecasts the patient's wait from what happened before (the models learn online, in time
order, as a deployed estimator would), and the forecast is compared with the time until the
patient was first called.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from central.estimator.baselines import FixedWait, PointForecaster, QueueTimesMean, RollingWait
from central.estimator.model import EstimatorSettings, RoomStatsEstimator, WaitForecast
from central.sim import events as ev
from central.sim.config import SimConfig
from central.sim.events import SimEvent
from central.sim.model import Simulation, draw_room_factors

ESTIMATOR = "estimator"

# Simulation event -> queue action as the engine's audit names it.
_ACTIONS = {
    ev.CHECK_IN: "check_in",
    ev.CALL: "call",
    ev.MISS: "miss",
    ev.START: "start",
    ev.COMPLETE: "complete",
    ev.NO_SHOW: "no_show",
    ev.CANCEL: "cancel",
}


@dataclass(slots=True)
class Scores:
    """Errors of one model over the scored check-ins."""

    n: int = 0
    abs_err: float = 0.0
    err: float = 0.0
    above95: int = 0
    inside80: int = 0

    @property
    def mae_s(self) -> float:
        return self.abs_err / self.n if self.n else 0.0

    @property
    def bias_s(self) -> float:
        return self.err / self.n if self.n else 0.0


@dataclass(slots=True)
class Result:
    """What an evaluation measured."""

    scores: dict[str, Scores] = field(default_factory=dict)
    """Forecast when the patient joined the line vs. the wait until called."""
    snapshot_scores: dict[str, Scores] = field(default_factory=dict)
    """Forecast for everyone waiting at set times vs. the time left until called."""
    estimates: int = 0
    estimate_ns: int = 0
    visits: int = 0

    @property
    def us_per_estimate(self) -> float:
        return self.estimate_ns / self.estimates / 1000 if self.estimates else 0.0

    def best_baseline(self, snapshots: bool = False) -> tuple[str, float]:
        scores = self.snapshot_scores if snapshots else self.scores
        name, s = min(
            ((k, v) for k, v in scores.items() if k != ESTIMATOR), key=lambda kv: kv[1].mae_s
        )
        return name, s.mae_s


class Scorer:
    """An `Observer` that feeds every model the queue events and scores them at check-in."""

    def __init__(self, estimator: RoomStatsEstimator, baselines: list[PointForecaster]) -> None:
        self.estimator = estimator
        self.baselines = baselines
        self.scoring = False
        self.result = Result()
        for scores in (self.result.scores, self.result.snapshot_scores):
            scores[ESTIMATOR] = Scores()
            for b in baselines:
                scores[b.name] = Scores()
        self._pending: dict[str, tuple[float, WaitForecast, list[float]]] = {}
        self._snapshots: dict[str, list[tuple[float, WaitForecast, list[float]]]] = {}
        self.sim: Simulation | None = None

    def snapshot(self, t: float) -> None:
        """Forecast the time left for everyone waiting now (as a published snapshot would)."""
        if not self.scoring or self.sim is None:
            return
        for room_id in self.sim.rooms:
            for i, visit_id in enumerate(self.sim.backend.waiting(room_id)):
                f = self.estimator.forecast(room_id, i + 1, t)
                points = [b.forecast_s(room_id, i + 1, t) for b in self.baselines]
                self._snapshots.setdefault(visit_id, []).append((t, f, points))

    def on_event(self, e: SimEvent) -> None:
        action = _ACTIONS.get(e.kind)
        if action is None or e.room_id is None:
            return
        if action == "check_in" and self.scoring:
            assert e.position is not None
            t0 = time.perf_counter_ns()
            f = self.estimator.forecast(e.room_id, e.position, e.t)
            self.result.estimate_ns += time.perf_counter_ns() - t0
            self.result.estimates += 1
            points = [b.forecast_s(e.room_id, e.position, e.t) for b in self.baselines]
            self._pending[e.visit_id] = (e.t, f, points)
        elif action == "call":
            pending = self._pending.pop(e.visit_id, None)
            if pending is not None:
                self._score(self.result.scores, e.t - pending[0], pending[1], pending[2])
            for t, f, points in self._snapshots.pop(e.visit_id, ()):
                self._score(self.result.snapshot_scores, e.t - t, f, points)
        elif action in ("cancel", "no_show"):
            self._pending.pop(e.visit_id, None)
            self._snapshots.pop(e.visit_id, None)
        self.estimator.observe(action, e.room_id, e.visit_id, e.t, position=e.position)
        for b in self.baselines:
            b.observe(action, e.room_id, e.visit_id, e.t, position=e.position)

    def _score(
        self, scores: dict[str, Scores], actual: float, f: WaitForecast, points: list[float]
    ) -> None:
        s = scores[ESTIMATOR]
        s.n += 1
        s.abs_err += abs(f.expected_s - actual)
        s.err += f.expected_s - actual
        s.above95 += actual > f.high95_s
        s.inside80 += f.low80_s <= actual <= f.high80_s
        for b, p in zip(self.baselines, points, strict=True):
            bs = scores[b.name]
            bs.n += 1
            bs.abs_err += abs(p - actual)
            bs.err += p - actual


def evaluate(
    config: SimConfig,
    seeds: list[int],
    *,
    days: int = 3,
    warmup_days: int = 1,
    settings: EstimatorSettings | None = None,
    snapshot_every_s: float = 600.0,
) -> Result:
    """Simulate `days` days per seed; score the days after `warmup_days`; sum over seeds."""
    total = Result()
    for seed in seeds:
        rng = random.Random(seed)
        probe = Simulation(config, random.Random(seed))
        factors = draw_room_factors(config, probe.rooms, rng)
        rooms = {r: (s.spec.avg_service_s, s.spec.staff) for r, s in probe.rooms.items()}
        estimator = RoomStatsEstimator(settings)
        for room_id, (avg, staff) in rooms.items():
            estimator.configure_room(room_id, avg, staff)
        scorer = Scorer(estimator, [FixedWait(), RollingWait(), QueueTimesMean(rooms)])
        for day in range(days):
            scorer.scoring = day >= warmup_days
            sim = Simulation(
                config,
                random.Random(seed * 1000 + day),
                observers=[scorer],
                room_factors=factors,
                day_offset_s=day * 86400.0,
                id_prefix=f"d{day}v",
            )
            scorer.sim = sim
            sim.every(snapshot_every_s, scorer.snapshot)
            sim.run()
            if scorer.scoring:
                total.visits += len(sim.visits)
        _merge(total, scorer.result)
    return total


def _merge(into: Result, part: Result) -> None:
    into.estimates += part.estimates
    into.estimate_ns += part.estimate_ns
    for mine, theirs in ((into.scores, part.scores), (into.snapshot_scores, part.snapshot_scores)):
        for name, s in theirs.items():
            t = mine.setdefault(name, Scores())
            t.n += s.n
            t.abs_err += s.abs_err
            t.err += s.err
            t.above95 += s.above95
            t.inside80 += s.inside80


def render(result: Result) -> str:
    """The evaluation as text tables (errors in minutes)."""
    lines: list[str] = []
    for title, scores, snaps in (
        ("At check-in: forecast when the patient joined the line", result.scores, False),
        ("Snapshots: everyone waiting, every 10 min, time left", result.snapshot_scores, True),
    ):
        est = scores[ESTIMATOR]
        best_name, best_mae = result.best_baseline(snaps)
        lines += [
            title,
            f"{'model':<30} {'n':>7} {'MAE min':>8} {'bias min':>9} {'>95% bound':>11} "
            f"{'in 80%':>7}",
        ]
        for name, s in scores.items():
            mine = name == ESTIMATOR and s.n
            above = f"{100 * s.above95 / s.n:.1f}%" if mine else "-"
            inside = f"{100 * s.inside80 / s.n:.1f}%" if mine else "-"
            lines.append(
                f"{name:<30} {s.n:>7} {s.mae_s / 60:>8.2f} {s.bias_s / 60:>9.2f} {above:>11} "
                f"{inside:>7}"
            )
        ratio = est.mae_s / best_mae if best_mae else float("nan")
        lines += [
            f"MAE ratio estimator / best baseline ({best_name}): {ratio:.2f}  (target <= 0.70)",
            f"waits above the 95% bound: {100 * est.above95 / max(est.n, 1):.1f}%  (target <= 5%)",
            "",
        ]
    lines.append(
        f"time per estimate: {result.us_per_estimate:.1f} us over {result.estimates} estimates"
        "  (target <= 1000 us)"
    )
    return "\n".join(lines) + "\n"
