"""Wait-time estimation for room queues (issue #9).

- `RoomStatsEstimator` — the estimator; implements the engine's `WaitEstimator`.
- `EstimatorSettings` — its tuning (pydantic, unknown keys are errors).
- `WaitForecast` — median, 80% interval and 95% upper bound, in seconds.
- `baselines` — the three simple forecasts it is measured against; `evaluate` — the harness.
"""

from central.estimator.model import EstimatorSettings, RoomStatsEstimator, WaitForecast, local_clock

__all__ = ["EstimatorSettings", "RoomStatsEstimator", "WaitForecast", "local_clock"]
