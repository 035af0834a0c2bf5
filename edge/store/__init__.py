"""The station's SQLite database: outbox, cached directory, leases, snapshots."""

from edge.store.db import (
    LeaseBlockRow,
    LocalCheckIn,
    OutboxRow,
    StationStore,
    TapWrite,
)
from edge.store.migrations import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "LeaseBlockRow",
    "LocalCheckIn",
    "OutboxRow",
    "StationStore",
    "TapWrite",
]
