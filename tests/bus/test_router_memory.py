"""The router's process hands big freed buffers back to the system (glibc).

Under thousands of hostile records, some of them megabytes long, the router's
resident memory grew with every oversized record although no Python object was
retained (tracemalloc diffs): glibc raised its mmap threshold after freeing the
first big buffer and served the later ones from the heap, where the freed space
fragmented. :func:`bus.router.memory.keep_memory_flat` pins the threshold. The
allocator's own counters say where a block came from, so this needs no timing
and no RSS guesswork: each case runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's allocator only"
)

_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from bus.router.memory import keep_memory_flat

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Info
    if sys.argv[1] == "flat":
        assert keep_memory_flat()
    first = bytearray(3 * 1024 * 1024)  # an oversized record, fetched then refused
    del first
    before = libc.mallinfo2().hblks
    second = bytearray(3 * 1024 * 1024)  # the next one
    print(libc.mallinfo2().hblks - before)
    """
)


def _mapped_blocks(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


def test_a_big_buffer_after_a_freed_one_is_still_mapped_on_its_own() -> None:
    # Without the fix glibc serves the second buffer from the heap (0 new mappings):
    # the control shows the probe can tell the two apart.
    assert _mapped_blocks("default") == 0
    assert _mapped_blocks("flat") == 1
