"""Giving memory back to the operating system after a large document was handled.

Decoding a day's cards document (4 MB of JSON for 10,000 visits) builds tens of MB of
short-lived objects. Python frees them, but glibc keeps much of the freed heap mapped: large
buffers above its (self-raising) mmap threshold come from the heap, and freed pages in the
middle of it stay resident. `malloc_trim(0)` hands them back. On a C library without it (musl,
macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

# Messages at least this large are followed by a trim.
LARGE_PAYLOAD_BYTES = 256 * 1024


def _load_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded: the C library's among them
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    fn: Callable[[int], int] = trim
    return fn


_TRIM = _load_trim()


def release_freed_memory() -> None:
    """Return the C heap's free pages to the OS (where glibc allows).

    No `gc.collect()`: a decoded document has no reference cycles, so its objects are freed
    as soon as they are dropped; a forced collection would only add a pause.
    """
    if _TRIM is not None:
        _TRIM(0)
