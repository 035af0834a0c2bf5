"""Importing sqlite-utils without the numpy and pandas it would load just in case.

`sqlite_utils.db` imports numpy and pandas at import time whenever they are installed, only to
map their scalar types to column types. The station never stores a numpy or pandas value, yet
on a machine where numpy is installed (a developer's full environment) that import costs the
daemon about 12 MB of resident memory. So the first import of sqlite-utils is made with both
marked as absent; the marks are removed at once, so any later `import numpy` in the same process
works as usual. If numpy or pandas is already imported, sqlite-utils gets it as before.
"""

from __future__ import annotations

import importlib
import sys

_OPTIONAL = ("numpy", "pandas")


def import_sqlite_utils_lean() -> None:
    """Import sqlite-utils (once) without letting it pull in numpy or pandas."""
    if "sqlite_utils" in sys.modules:
        return
    blocked = [name for name in _OPTIONAL if name not in sys.modules]
    for name in blocked:
        # A None entry makes `import name` raise ImportError (the documented way to block).
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module("sqlite_utils")
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
