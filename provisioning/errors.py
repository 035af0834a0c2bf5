"""Provisioning's errors: each says what failed and what the technician should do."""

from __future__ import annotations


class ProvisionError(Exception):
    """A provisioning step failed; `todo` is the plain next step for the technician."""

    exit_code = 1

    def __init__(self, what: str, todo: str) -> None:
        self.what = what
        self.todo = todo
        super().__init__(f"{what} -- {todo}")


class UsageError(ProvisionError):
    """A missing or contradictory option."""

    exit_code = 2


class EnrolRefused(ProvisionError):
    """Central refused the enrolment code (unknown, expired or used)."""


class CentralUnreachable(ProvisionError):
    """Central did not answer, or answered something that is not the API."""


class NotEnrolled(ProvisionError):
    """The config folder holds no enrolled station."""
