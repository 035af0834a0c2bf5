"""Card reader drivers behind one small interface (`edge.readers.base.Reader`).

`make_reader(config)` builds the driver a config names and wraps it in the debouncer. Each
driver's hardware library is imported only by its own module, when that driver is chosen, so
a missing library disables that one reader (its health says why), never the daemon.

In a station's TOML config::

    [[readers]]
    type = "nfcpy"          # or "pcsc", "keyboard", "simulated"
    name = "front-door"
    device = "usb:054c:06c1"
    targets = ["106A", "212F"]
    debounce_s = 3.0

`unwrap(reader)` gives the driver under the debouncer, e.g. the `SimulatedReader` whose
`inject(uid)` the daemon's tap endpoint calls.
"""

from __future__ import annotations

import importlib
import logging

from edge.readers.base import (
    Backoff,
    CardRead,
    Clock,
    DebouncedReader,
    Debouncer,
    HealthTracker,
    OnRead,
    Reader,
    ReadFailure,
    ReadResult,
)
from edge.readers.config import (
    KeyboardReaderConfig,
    NfcpyReaderConfig,
    PcscReaderConfig,
    ReaderConfig,
    SimulatedReaderConfig,
)
from edge.readers.disabled import DisabledReader

log = logging.getLogger(__name__)

__all__ = [
    "Backoff",
    "CardRead",
    "DebouncedReader",
    "Debouncer",
    "DisabledReader",
    "HealthTracker",
    "KeyboardReaderConfig",
    "NfcpyReaderConfig",
    "OnRead",
    "PcscReaderConfig",
    "ReadFailure",
    "ReadResult",
    "Reader",
    "ReaderConfig",
    "SimulatedReaderConfig",
    "make_raw_reader",
    "make_reader",
    "unwrap",
]

# type -> (module, class, the pip extra that brings its library)
_DRIVERS: dict[str, tuple[str, str, str]] = {
    "nfcpy": ("edge.readers.nfcpy_driver", "NfcpyReader", "nfc"),
    "pcsc": ("edge.readers.pcsc_driver", "PcscReader", "pcsc"),
    "keyboard": ("edge.readers.keyboard_driver", "KeyboardReader", "keyboard"),
    "simulated": ("edge.readers.simulated", "SimulatedReader", ""),
}


def make_raw_reader(config: ReaderConfig) -> Reader:
    """The driver for `config`, without debouncing; a `DisabledReader` if its library is missing."""
    module_name, class_name, extra = _DRIVERS[config.type]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        detail = (
            f"the {config.type} driver cannot load ({e}); install it with "
            f"pip install 'nfc-hospital[{extra}]'"
        )
        log.error(
            "reader.driver_unavailable reader=%s driver=%s error=%s", config.name, config.type, e
        )
        return DisabledReader(config.name, config.type, detail)
    reader: Reader = getattr(module, class_name)(config)
    return reader


def make_reader(config: ReaderConfig, clock: Clock | None = None) -> Reader:
    """The driver for `config`, debounced with the config's window."""
    inner = make_raw_reader(config)
    debouncer = (
        Debouncer(config.debounce_s) if clock is None else Debouncer(config.debounce_s, clock)
    )
    return DebouncedReader(inner, debouncer)


def unwrap(reader: Reader) -> Reader:
    """The driver itself under any debouncing wrapper."""
    while isinstance(reader, DebouncedReader):
        reader = reader.inner
    return reader
