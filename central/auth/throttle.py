"""Login throttling: failure counters per scope with doubling locks and a cap.

A check happens before the password is even looked at, so a locked caller learns nothing
and costs no argon2 work. Counters live in the database: every central worker sees them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Counter as PromCounter
from sqlalchemy import Connection

from central.auth.config import ThrottlePolicy
from central.auth.errors import Throttled
from central.auth.store import AuthStore, Counter

LOGIN_THROTTLED = PromCounter(
    "nfch_auth_throttled_total", "Login attempts refused by a throttle lock", ["scope"]
)


def lock_for(policy: ThrottlePolicy, failures: int) -> float:
    """Seconds of lock after `failures` consecutive failures (0 while still free)."""
    over = failures - policy.free_failures
    if over <= 0:
        return 0.0
    return float(min(policy.max_lock_s, policy.base_lock_s * 2 ** min(over - 1, 30)))


class Throttle:
    """Checks and records failures for (scope, key) pairs under their policies."""

    def __init__(self, store: AuthStore) -> None:
        self._store = store

    def check(
        self, conn: Connection, checks: list[tuple[str, str, ThrottlePolicy]], now: datetime
    ) -> None:
        """Raise Throttled for the longest lock among `checks`."""
        worst: tuple[float, str] | None = None
        for scope, key, _policy in checks:
            c = self._store.counter(conn, scope, key)
            if c is not None and c.locked_until is not None and c.locked_until > now:
                left = (c.locked_until - now).total_seconds()
                if worst is None or left > worst[0]:
                    worst = (left, scope)
        if worst is not None:
            LOGIN_THROTTLED.labels(scope=worst[1]).inc()
            raise Throttled(worst[0], worst[1])

    def fail(
        self, conn: Connection, checks: list[tuple[str, str, ThrottlePolicy]], now: datetime
    ) -> None:
        """Count one failure on every (scope, key) and lock those past their free failures."""
        for scope, key, policy in checks:
            c = self._store.counter(conn, scope, key)
            if c is None or (now - c.last_failure_at).total_seconds() > policy.window_s:
                c = Counter(0, now, now, None)
            c.failures += 1
            c.last_failure_at = now
            lock = lock_for(policy, c.failures)
            c.locked_until = now + timedelta(seconds=lock) if lock > 0 else None
            self._store.put_counter(conn, scope, key, c)

    def succeed(self, conn: Connection, keys: list[tuple[str, str]]) -> None:
        """Forget the failures of these (scope, key) pairs after a success."""
        for scope, key in keys:
            self._store.clear_counter(conn, scope, key)
