"""The simulator's errors. Config problems are `protocol.errors.ConfigError` (file and key)."""

from __future__ import annotations


class SimError(Exception):
    """Base class of the simulator's own errors."""


class QueueModelError(SimError):
    """The simulation asked the queue for something impossible (a bug in the simulation or a
    refusal by the engine it drives)."""
