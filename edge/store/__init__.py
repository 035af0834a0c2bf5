"""The station's SQLite database: outbox, cached directory, leases, snapshots."""

from edge.store._lean import import_sqlite_utils_lean

# Before edge.store.db imports sqlite-utils: keep numpy and pandas out of the daemon.
import_sqlite_utils_lean()

from edge.store.db import (  # noqa: E402 - after the lean import above
    LeaseBlockRow,
    LocalCheckIn,
    OutboxRow,
    StationStore,
    TapWrite,
)
from edge.store.migrations import SCHEMA_VERSION  # noqa: E402

__all__ = [
    "SCHEMA_VERSION",
    "LeaseBlockRow",
    "LocalCheckIn",
    "OutboxRow",
    "StationStore",
    "TapWrite",
]
