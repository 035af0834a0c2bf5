"""Prometheus counters of the kiosk (served on `[http]` when a port is set)."""

from __future__ import annotations

from prometheus_client import Counter

BAD_MESSAGES = Counter(
    "nfch_kiosk_bad_messages",
    "Messages the kiosk could not decode and ignored.",
    ["source", "reason"],
)
STALE_MESSAGES = Counter(
    "nfch_kiosk_stale_messages",
    "Snapshots, directory documents or screens older than the one shown, ignored.",
    ["kind"],
)
ANNOUNCEMENTS = Counter(
    "nfch_kiosk_announcements",
    "Calls announced (chime and/or speech).",
    ["result"],
)
CACHE_ERRORS = Counter(
    "nfch_kiosk_cache_errors",
    "Disk cache files that could not be read or written.",
    ["op"],
)


def counter_value(counter: Counter, **labels: str) -> float:
    """Current value of a labelled counter (tests and the benchmark read it)."""
    value: float = counter.labels(**labels)._value.get()
    return value
