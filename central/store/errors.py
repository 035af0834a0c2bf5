"""Storage errors."""

from __future__ import annotations


class StorageError(Exception):
    """The database is unreachable, locked too long, or not a schema this code knows."""
