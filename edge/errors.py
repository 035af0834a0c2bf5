"""The station daemon's errors, and the one place they map to HTTP statuses."""

from __future__ import annotations

from pathlib import Path


class EdgeError(Exception):
    """Base class of every error the station daemon raises on purpose."""

    http_status = 500


class StoreError(EdgeError):
    """The station database cannot be used (corrupt, wrong version, unwritable)."""

    http_status = 503


class DiskFullError(StoreError):
    """The station database is out of space: the tap was refused, nothing was recorded."""

    http_status = 507


class CorruptDatabaseError(StoreError):
    """The station database file is damaged (not a database, or `PRAGMA quick_check` fails)."""

    moved_to: Path | None = None  # where the damaged file was moved aside, if it was


class SchemaTooNewError(StoreError):
    """The station database was written by a newer daemon; refusing to downgrade it."""


class SiteKeyError(EdgeError):
    """The site key file is missing or too short."""


class NoSimulatedReaderError(EdgeError):
    """A tap was posted but this station has no simulated reader to feed it to."""

    http_status = 409


class BadTapError(EdgeError):
    """A posted tap is not valid JSON with a `uid` string."""

    http_status = 400


class RemoteNotAllowedError(EdgeError):
    """The local tap API answers loopback clients only."""

    http_status = 403


def http_status(error: BaseException) -> int:
    """The HTTP status for an error raised while serving a request."""
    return error.http_status if isinstance(error, EdgeError) else 500
