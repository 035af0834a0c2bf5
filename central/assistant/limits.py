"""Per-session / per-address token buckets for questions (plain code; the clock is passed in)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from central.assistant.errors import RateLimited
from central.metrics import BAD_INPUT


class RateLimiter:
    """`burst` questions at once, then one every `1 / per_s` seconds, per key."""

    def __init__(
        self,
        *,
        burst: int = 8,
        per_s: float = 0.5,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_s = per_s
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> None:
        """Spend one token of `key`'s bucket or raise RateLimited saying when to retry."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_s)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            BAD_INPUT.labels(source="assistant", reason="rate_limited").inc()
            wait = (1.0 - tokens) / self.per_s
            raise RateLimited(f"try again in {wait:.0f} s", "rate")
        self._buckets[key] = (tokens - 1.0, now)
        # The least recently used keys go first; a forgotten key simply starts full again.
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
