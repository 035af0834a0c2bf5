"""Hybrid logical clock (Kulkarni et al., 2014).

A Raspberry Pi has no battery clock, so its wall time can be hours off after a reboot and can
jump when NTP catches up. The HLC keeps every timestamp a node issues strictly increasing
whatever the wall clock does, stays close to real time when the clock is right, and orders
events across nodes causally once they have exchanged messages.

The physical clock is passed in, so tests and simulations drive it directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import total_ordering

from protocol.errors import ClockSkewError

_TEXT_RE = re.compile(r"^(\d{15})\.(\d{6})\.([a-z0-9][a-z0-9_-]{0,62})$")


@total_ordering
@dataclass(frozen=True, slots=True)
class HLCTimestamp:
    """One HLC reading: milliseconds, a logical counter, and the node that issued it."""

    wall_ms: int
    counter: int
    node: str

    def _key(self) -> tuple[int, int, str]:
        return (self.wall_ms, self.counter, self.node)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, HLCTimestamp):
            return NotImplemented
        return self._key() < other._key()

    def to_text(self) -> str:
        """A fixed-width text form whose string order is the timestamp order (for DB columns)."""
        return f"{self.wall_ms:015d}.{self.counter:06d}.{self.node}"

    @classmethod
    def from_text(cls, text: str) -> HLCTimestamp:
        """Parse `to_text` output; raises ValueError on anything else."""
        m = _TEXT_RE.match(text)
        if m is None:
            raise ValueError(f"{text!r} is not an HLC timestamp (expected WALLMS.COUNTER.NODE)")
        return cls(int(m.group(1)), int(m.group(2)), m.group(3))


def _system_ms() -> int:
    return time.time_ns() // 1_000_000


class HybridLogicalClock:
    """Issues HLC timestamps for one node.

    `max_drift_ms` bounds how far ahead of our physical clock a remote timestamp may be before
    `receive` refuses to merge it: one station with a clock a day ahead must not drag the
    whole site's clock into tomorrow.
    """

    def __init__(
        self,
        node: str,
        physical_ms: Callable[[], int] = _system_ms,
        max_drift_ms: int = 5 * 60 * 1000,
        last: HLCTimestamp | None = None,
    ) -> None:
        self._node = node
        self._physical_ms = physical_ms
        self._max_drift_ms = max_drift_ms
        self._wall = last.wall_ms if last else 0
        self._counter = last.counter if last else 0

    @property
    def node(self) -> str:
        return self._node

    def now(self) -> HLCTimestamp:
        """A timestamp for a local or send event, greater than every one issued before."""
        pt = self._physical_ms()
        if pt > self._wall:
            self._wall, self._counter = pt, 0
        else:
            self._counter += 1
        return HLCTimestamp(self._wall, self._counter, self._node)

    def receive(self, remote: HLCTimestamp) -> HLCTimestamp:
        """Merge a timestamp received from another node; returns the new local timestamp.

        Raises ClockSkewError (and leaves the clock unchanged) when `remote` is more than
        `max_drift_ms` ahead of our physical clock.
        """
        pt = self._physical_ms()
        if remote.wall_ms - pt > self._max_drift_ms:
            raise ClockSkewError(
                f"timestamp from {remote.node} is {remote.wall_ms - pt} ms ahead of this clock "
                f"(limit {self._max_drift_ms} ms); not merged"
            )
        wall = max(self._wall, remote.wall_ms, pt)
        if wall == self._wall == remote.wall_ms:
            counter = max(self._counter, remote.counter) + 1
        elif wall == self._wall:
            counter = self._counter + 1
        elif wall == remote.wall_ms:
            counter = remote.counter + 1
        else:
            counter = 0
        self._wall, self._counter = wall, counter
        return HLCTimestamp(self._wall, self._counter, self._node)
