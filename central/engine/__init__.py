"""The queue engine: every change of queue and journey state goes through `Engine`.

Public facade (import from here, not from the submodules):

- `Engine` — operations (`apply_batch`, `check_in`, `call_next`, ... one transaction each)
  and reads (`room_snapshot`, directory documents, `lease`, audit and event queries).
- `Rejected` — raised when an operation is refused; carries `reason`, `message_ko`,
  `message_en` and the HTTP `status` to answer with. `REASONS` lists every reason.
- Result types: `OpResult` (visit + `Changes`), `BatchResult` (`Ack` + `Changes`), views.
- `WaitEstimator` — the pluggable wait estimate (`SimpleEstimator` by default).
"""

from central.engine.core import Engine
from central.engine.errors import REASONS, EngineError, Reason, Rejected, StorageError
from central.engine.types import (
    AuditRecord,
    BatchResult,
    Changes,
    DeadLetterRecord,
    EventRecord,
    OpResult,
    RoomInfo,
    SimpleEstimator,
    StationView,
    StepView,
    VisitView,
    WaitEstimate,
    WaitEstimator,
)

__all__ = [
    "REASONS",
    "AuditRecord",
    "BatchResult",
    "Changes",
    "DeadLetterRecord",
    "Engine",
    "EngineError",
    "EventRecord",
    "OpResult",
    "Reason",
    "Rejected",
    "RoomInfo",
    "SimpleEstimator",
    "StationView",
    "StepView",
    "StorageError",
    "VisitView",
    "WaitEstimate",
    "WaitEstimator",
]
