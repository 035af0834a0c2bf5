"""The buffers of a large document stay out of glibc's heap once the daemon fixes its mmap
threshold (edge.memory.keep_large_blocks_mmapped), so freeing them returns their pages."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

# In a fresh interpreter: free one large block (glibc then raises its mmap threshold to that
# size by itself), optionally fix the threshold, then allocate a 1 MB buffer (a document's
# text) and print how many bytes glibc holds in mmapped blocks before and after.
CHILD = """
import ctypes, sys
from edge.memory import keep_large_blocks_mmapped

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
big = bytearray(8 * 1024 * 1024)
del big
if sys.argv[1] == "fixed":
    assert keep_large_blocks_mmapped()
before = libc.mallinfo2().hblkhd
text = bytearray(1024 * 1024)
print(libc.mallinfo2().hblkhd - before)
"""


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc 2.33+ (mallinfo2)")
@pytest.mark.parametrize(("mode", "mmapped"), [("fixed", True), ("glibc-default", False)])
def test_a_large_buffer_is_mmapped_once_the_threshold_is_fixed(mode, mmapped):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    grew = int(out.stdout)
    # Fixed: the 1 MB buffer is its own mapping (given back when freed). glibc's default,
    # after an 8 MB block was freed, serves it from the heap instead.
    assert (grew >= 1024 * 1024) is mmapped
