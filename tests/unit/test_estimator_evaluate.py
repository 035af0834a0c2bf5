"""A small evaluation on simulated days (the full one is `nfc-hospital bench estimator`)."""

from __future__ import annotations

from central.estimator.evaluate import ESTIMATOR, evaluate, render
from central.sim.config import SimConfig


def test_estimator_beats_the_baselines_on_a_small_simulated_run():
    result = evaluate(SimConfig(visits=250), seeds=[1, 2], days=2, warmup_days=1)
    est = result.scores[ESTIMATOR]
    fixed = result.scores["fixed 10 min"]
    assert est.n == fixed.n > 800
    assert est.mae_s < 0.5 * fixed.mae_s
    _best, best_mae = result.best_baseline()
    assert est.mae_s < best_mae
    # The 95% bound is a bound: few waits go past it.
    assert est.above95 / est.n < 0.08
    assert 0.65 < est.inside80 / est.n < 0.92
    snap = result.snapshot_scores[ESTIMATOR]
    assert snap.n > 0
    assert snap.mae_s < result.snapshot_scores["fixed 10 min"].mae_s
    assert result.us_per_estimate < 1000


def test_only_days_after_the_warm_up_are_scored():
    warm_only = evaluate(SimConfig(visits=60), seeds=[3], days=1, warmup_days=1)
    assert warm_only.scores[ESTIMATOR].n == 0
    assert warm_only.estimates == 0
    scored = evaluate(SimConfig(visits=60), seeds=[3], days=2, warmup_days=1)
    assert scored.scores[ESTIMATOR].n > 0
    assert "MAE ratio" in render(scored)
