"""Giving memory back to the operating system after a large document was handled.

A day's cards document (4 MB of JSON for 10,000 visits) arrives as one payload and is decoded
to one string of up to twice that; its cards are then read one at a time. Python frees those
buffers, but glibc may keep them: large buffers above its (self-raising) mmap threshold come
from the heap, and freed pages in the middle of it stay resident. A fixed mmap threshold
(`keep_large_blocks_mmapped`, set once at daemon start-up, `edge.cli.run`) keeps such buffers out
of the heap, and `malloc_trim(0)` hands back what is left. On a C library without them (musl,
macOS) both do nothing.
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

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
# glibc's own starting value; setting it explicitly is what stops glibc from raising it.
MMAP_THRESHOLD_BYTES = 128 * 1024


def keep_large_blocks_mmapped(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve every C allocation of `threshold` bytes or more by its own mmap; True if set.

    glibc raises its mmap threshold by itself each time a large mmapped block is freed (up
    to 32 MB), after which a document's payload bytes and decoded text (MBs each) come from
    the heap, where they leave pages that stay resident. A fixed threshold keeps them
    mmapped: freeing one gives its pages back to the OS at once. Measured on the daemon with
    a 10,000-card document: 62.2 -> 58.4 MB after the document. Does nothing (False) on a C
    library without `mallopt`.
    """
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def release_freed_memory() -> None:
    """Return the C heap's free pages to the OS (where glibc allows).

    No `gc.collect()`: a decoded document has no reference cycles, so its objects are freed
    as soon as they are dropped; a forced collection would only add a pause.
    """
    if _TRIM is not None:
        _TRIM(0)
