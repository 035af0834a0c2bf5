"""The small interface every card reader driver implements, and the pieces they share.

A driver turns a physical (or emulated) reader into a stream of `CardRead` and `ReadFailure`
values handed to an async callback. Drivers own their device: they open it, notice when it is
unplugged, reopen it with jittered exponential backoff, and report their state through
`health()`. They never raise for a device problem; `run` ends only when it is cancelled.

Privacy: a `CardRead` carries the plaintext UID because something has to. The daemon hashes it
at once (`protocol.ids.card_hash`) and never stores or logs it; drivers never log it either
(only its length and technology).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from prometheus_client import Counter

from protocol.ids import normalize_uid
from protocol.messages import ReaderHealth, ReaderState

log = logging.getLogger(__name__)

Clock = Callable[[], float]

Technology = Literal["iso14443a", "iso14443b", "felica", "iso15693", "keyboard", "simulated"]

FailureReason = Literal[
    "bad_uid",  # the UID is not hex of whole bytes, or too short/long (garbage from the reader)
    "bad_status",  # the card answered GET DATA with a status other than 90 00
    "card_removed",  # the card left the field before its UID was read
    "reader_error",  # the reader or its link failed in the middle of a read
]

# reason: a FailureReason for a failed read, or "disconnected"/"error" when a working reader
# was lost.
READER_ERRORS = Counter(
    "nfch_edge_reader_errors_total",
    "Card reads that failed or reader faults, by reader name and reason.",
    ["reader", "reason"],
)
# result: ok (the reader played it), rejected (it answered with another status), failed (no
# answer: transmit or connect error), card_gone (the card had left and the reader took no escape
# command), dropped (signals arrived faster than the reader plays them).
READER_FEEDBACK = Counter(
    "nfch_edge_reader_feedback_total",
    "LED/buzzer signals sent to readers, by reader name and result.",
    ["reader", "result"],
)

# Failed reads that say something about the reader rather than the patient: a card pulled away
# before its UID was read is the patient's doing and never makes a reader "degraded".
_READER_FAULTS: frozenset[str] = frozenset({"bad_uid", "bad_status", "reader_error"})
_FAULTS_KEPT = 100


@dataclass(frozen=True, slots=True)
class CardRead:
    """One card seen by a reader. `uid` is normalized upper-case hex: hash it, never keep it."""

    uid: str
    reader: str
    technology: Technology
    read_at_monotonic: float

    def __post_init__(self) -> None:
        # Normalizing here means no driver can hand the daemon a UID in another spelling.
        object.__setattr__(self, "uid", normalize_uid(self.uid))

    def __repr__(self) -> str:
        # A repr ends up in logs and tracebacks: never show the UID itself.
        return (
            f"CardRead(reader={self.reader!r}, technology={self.technology!r}, "
            f"uid_bytes={len(self.uid) // 2}, read_at_monotonic={self.read_at_monotonic:.3f})"
        )


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A read that produced nothing usable: the daemon says "tap again" and records no event."""

    reader: str
    reason: FailureReason
    detail: str = ""
    read_at_monotonic: float = field(default_factory=time.monotonic)


ReadResult = CardRead | ReadFailure
OnRead = Callable[[ReadResult], Awaitable[None]]


@runtime_checkable
class Reader(Protocol):
    """A card reader. `run` delivers reads until cancelled; `health` is cheap and never blocks."""

    @property
    def name(self) -> str:
        """The reader's name from the station config."""
        ...

    @property
    def driver(self) -> str:
        """The driver type: nfcpy, pcsc, keyboard, simulated."""
        ...

    async def run(self, on_read: OnRead) -> None:
        """Read cards and await `on_read` for each result, until cancelled.

        Device loss is not an error: the driver reports it in `health()` and reopens the device
        with backoff. Cancellation closes the device.
        """
        ...

    def health(self) -> ReaderHealth:
        """The reader's current health, for the station status."""
        ...


def parse_uid(raw: str) -> str | None:
    """`raw` as a normalized UID, or None when it is not a plausible card UID."""
    try:
        return normalize_uid(raw)
    except ValueError:
        return None


class Debouncer:
    """Decides whether a read is a new tap.

    A card left on the reader (read again and again) or tapped twice within `window_s` seconds
    is one tap: each sighting of a UID extends its window. A different card passes at once.
    Pure logic with an injected clock.
    """

    def __init__(self, window_s: float, clock: Clock = time.monotonic) -> None:
        if window_s < 0:
            raise ValueError("the debounce window must not be negative")
        self.window_s = window_s
        self._clock = clock
        self._last_seen: dict[str, float] = {}

    def accept(self, uid: str, now: float | None = None) -> bool:
        """True when `uid` seen now is a new tap; records the sighting either way."""
        t = self._clock() if now is None else now
        # Forget old sightings so the map stays tiny whatever the traffic.
        for stale in [u for u, seen in self._last_seen.items() if t - seen >= self.window_s]:
            del self._last_seen[stale]
        is_new = uid not in self._last_seen
        self._last_seen[uid] = t
        return is_new


class DebouncedReader:
    """Wraps any reader so that only new taps (per `Debouncer`) reach the callback."""

    def __init__(self, inner: Reader, debouncer: Debouncer) -> None:
        self.inner = inner
        self.debouncer = debouncer

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def driver(self) -> str:
        return self.inner.driver

    async def run(self, on_read: OnRead) -> None:
        async def filtered(result: ReadResult) -> None:
            if isinstance(result, CardRead) and not self.debouncer.accept(
                result.uid, result.read_at_monotonic
            ):
                log.debug("reader.debounced reader=%s", result.reader)
                return
            await on_read(result)

        await self.inner.run(filtered)

    def health(self) -> ReaderHealth:
        return self.inner.health()


class Backoff:
    """Jittered exponential backoff for reopening a device: full jitter in [d/2, d]."""

    def __init__(
        self,
        initial_s: float = 0.5,
        maximum_s: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self._rng = rng or random.Random()
        self._attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; grows until `reset`."""
        base = min(self.maximum_s, self.initial_s * self.factor**self._attempt)
        self._attempt += 1
        return base / 2 + self._rng.random() * base / 2

    def reset(self) -> None:
        """The device works again: the next failure starts from the initial delay."""
        self._attempt = 0

    def reset_if_stable(self, worked_for_s: float, stable_s: float = 10.0) -> None:
        """Reset only when the device worked a while: one that opens and at once fails again
        must not be retried at the initial rate forever."""
        if worked_for_s >= stable_s:
            self.reset()


class HealthSettings(Protocol):
    """The part of a reader config the health tracker reads."""

    @property
    def name(self) -> str: ...

    @property
    def degraded_after(self) -> int: ...

    @property
    def degraded_window_s(self) -> float: ...


class HealthTracker:
    """A reader's health, logged on every change (drivers update it from any thread).

    A driver sets the base state: `ok` (open and reading), `disconnected`, `error`. On top of
    an `ok` reader, `snapshot()` reports **degraded** when it works but not well:

    - `degraded_after` faults or more within the last `window_s` seconds, a fault being a
      failed read the reader is to blame for (`bad_uid`, `bad_status`, `reader_error`; not
      `card_removed`) or the loss of the working reader (unplugged, pcscd gone), so a reader
      that keeps dropping off the bus is degraded once it is back; or
    - its LED/buzzer feedback is switched on and the last signal was refused or failed.

    It is `ok` again once the faults have aged out of the window and a signal has gone
    through. Pure bookkeeping with an injected clock; the daemon polls `snapshot()`.
    """

    def __init__(
        self,
        name: str,
        driver: str,
        status: ReaderState = "disconnected",
        *,
        window_s: float = 60.0,
        degraded_after: int = 3,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.driver = driver
        self.window_s = window_s
        self.degraded_after = degraded_after
        self._clock = clock
        self._status: ReaderState = status
        self._detail = ""
        self._lock = threading.Lock()
        self._faults: deque[tuple[float, str]] = deque()
        self._feedback_error: str | None = None

    @classmethod
    def for_reader(
        cls, config: HealthSettings, driver: str, status: ReaderState = "disconnected"
    ) -> HealthTracker:
        """A tracker with the thresholds of a reader's config."""
        return cls(
            config.name,
            driver,
            status,
            window_s=config.degraded_window_s,
            degraded_after=config.degraded_after,
        )

    def set(self, status: ReaderState, detail: str = "") -> None:
        """Record a new base state; logs only when the status changes."""
        detail = detail[:500]
        if status != self._status:
            if self._status == "ok" and status in ("disconnected", "error") and detail != "stopped":
                # A working reader lost: a fault worth counting beside the failed reads.
                READER_ERRORS.labels(reader=self.name, reason=status).inc()
                self._fault("lost")
            level = logging.INFO if status == "ok" else logging.WARNING
            log.log(
                level,
                "reader.health reader=%s driver=%s status=%s detail=%s",
                self.name,
                self.driver,
                status,
                detail,
            )
        self._status, self._detail = status, detail

    def failed(self, failure: ReadFailure) -> ReadFailure:
        """Count and log a failed read (`count_failure`) and note it if it is a reader fault."""
        count_failure(failure)
        if failure.reason in _READER_FAULTS:
            self._fault(failure.reason)
        return failure

    def feedback_result(self, error: str | None) -> None:
        """The outcome of the last LED/buzzer signal: None when it was played."""
        self._feedback_error = error[:200] if error else None

    def _fault(self, reason: str) -> None:
        with self._lock:
            self._faults.append((self._clock(), reason))
            # Bounded whatever the fault rate; enough to report real counts in the detail.
            while len(self._faults) > max(self.degraded_after, _FAULTS_KEPT):
                self._faults.popleft()

    def _recent_faults(self) -> list[str]:
        cutoff = self._clock() - self.window_s
        with self._lock:
            while self._faults and self._faults[0][0] <= cutoff:
                self._faults.popleft()
            return [reason for _, reason in self._faults]

    @property
    def status(self) -> ReaderState:
        """The base state the driver set (`snapshot()` adds `degraded`)."""
        return self._status

    def snapshot(self) -> ReaderHealth:
        """The current state as the protocol's `ReaderHealth`."""
        status, detail = self._status, self._detail
        if status == "ok":
            problems = []
            faults = self._recent_faults()
            if len(faults) >= self.degraded_after:
                tally = ", ".join(f"{r} x{n}" for r, n in sorted(Tally(faults).items()))
                problems.append(f"{len(faults)} faults within {self.window_s:g} s ({tally})")
            feedback = self._feedback_error
            if feedback is not None:
                problems.append(f"LED/buzzer feedback failing: {feedback}")
            if problems:
                status = "degraded"
                detail = "; ".join([*problems, detail] if detail else problems)
        return ReaderHealth(name=self.name, driver=self.driver, status=status, detail=detail[:500])


def count_failure(failure: ReadFailure) -> ReadFailure:
    """Count a failed read in the reader-errors metric and log it (never with the UID)."""
    READER_ERRORS.labels(reader=failure.reader, reason=failure.reason).inc()
    log.info(
        "reader.read_failed reader=%s reason=%s detail=%s",
        failure.reader,
        failure.reason,
        failure.detail,
    )
    return failure
