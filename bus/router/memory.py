"""Keep a long-running router's resident memory flat under records of any size.

Measured (tracemalloc snapshot diffs under thousands of hostile records): no
Python object is retained per record; the growth was the C allocator's. glibc
serves a large request (a multi-megabyte record, its fetch buffer) from
``mmap`` and, when such a block is freed, raises its mmap threshold to that size
(the "dynamic threshold"). From then on blocks of that size come from the heap
arenas, shared with the small objects of every later record, and the freed
space fragments instead of going back to the system: resident memory climbs
with each oversized record and never falls. A fixed threshold turns the dynamic
adjustment off, so big buffers keep going back to the system when freed.

Only glibc has ``mallopt``; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["MMAP_THRESHOLD_BYTES", "keep_memory_flat"]

#: Blocks from this size up are mapped on their own and unmapped when freed.
MMAP_THRESHOLD_BYTES = 256 * 1024
_M_MMAP_THRESHOLD = -3  # glibc malloc.h


@functools.cache
def keep_memory_flat() -> bool:
    """Fix the process's mmap threshold; ``True`` when the allocator took it.

    Process-wide and idempotent: a service calls it once as it starts.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
