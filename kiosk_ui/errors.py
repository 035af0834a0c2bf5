"""The kiosk's errors, each mapped to an exit code in one place (`exit_code`)."""

from __future__ import annotations


class KioskError(Exception):
    """Base class for kiosk errors."""


class KioskConfigError(KioskError):
    """The config names no mode, or both modes, or something the kiosk cannot use."""


class FeedFailed(KioskError):
    """An essential feed (the MQTT link thread) died; the process exits so systemd restarts it."""


def exit_code(error: KioskError) -> int:
    """Process exit status for an error that ends the kiosk."""
    if isinstance(error, KioskConfigError):
        return 2
    return 1
