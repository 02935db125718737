"""The router's CPU work (signature verification and strict parse) on worker processes.

One Python process verifies on one core at most: the GIL is held for much of
a verification. With ``workers`` > 1 the consuming process keeps everything
that carries the guarantees (the consumer group, the acceptance store, the
writes in order and the commits after their acknowledgements) and hands only
:meth:`bus.router.checker.PackageChecker.read` of each batch to a pool of worker
processes (:class:`bus.router.checker.BatchChecker` decides when). A batch is
split into contiguous shares and put back together in its order, so routing
order per partition (per sender) is exactly that of a single process, and the
directory checks stay in the consuming process, which follows the directory.

Workers are started with ``spawn`` (a fork of a process with an event loop and
threads is unsafe) and build their own reader from the same settings
(:func:`bus.verification.make_reader`), so they read exactly as the router
would. What comes back is plain values; a refusal's error is rebuilt as its own class with
its message and attributes (:func:`_portable`), whatever its ``__init__`` takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import pickle
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from bus.router.checker import PackageChecker, Read, Unread
from bus.settings import Settings
from bus.verification import make_reader
from edxml.errors import EdxbusError, MalformedXmlError

__all__ = ["CheckPool", "default_workers"]

#: The checker of a worker process, built once by :func:`_start_worker`.
_checker: PackageChecker | None = None

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

_Portable = tuple[type[EdxbusError], tuple[Any, ...], dict[str, Any]]


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _die_with(parent: int) -> None:
    """End this worker when the router that spawned it ends, even by SIGKILL.

    A killed router cannot stop its pool; without this its workers would stay
    behind, idle, one set per restart. Linux tells a child of its parent's death
    (``PR_SET_PDEATHSIG``); a parent already gone is checked right after.
    """
    name = ctypes.util.find_library("c")
    if name is not None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def _start_worker(settings: Settings, parent: int) -> None:
    _die_with(parent)
    global _checker
    _checker = PackageChecker(
        make_reader(settings), max_package_bytes=settings.packages.max_package_bytes
    )


def _portable(error: EdxbusError) -> _Portable:
    state = dict(vars(error))
    try:
        pickle.dumps(state)
    except Exception:
        state = {}
    return type(error), error.args, state


def _rebuilt(portable: _Portable) -> EdxbusError:
    cls, args, state = portable
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


_Shipped = Read | tuple[str | None, str | None, _Portable]


def _read_share(values: Sequence[bytes | None]) -> list[_Shipped]:
    """In a worker: read each value; refusals travel as portable errors."""
    checker = _checker
    assert checker is not None, "worker not started"
    out: list[_Shipped] = []
    for value in values:
        read = checker.read(value)
        if isinstance(read, Unread):
            out.append((read.agency_code, read.fingerprint, _portable(read.error)))
        else:
            out.append(read)
    return out


def _warm() -> int:
    return os.getpid()


class CheckPool:
    """``workers`` processes reading packages for one router.

    The :class:`bus.router.checker.ReadPool` of its :class:`bus.router.checker.BatchChecker`.
    """

    def __init__(self, settings: Settings, workers: int, local: PackageChecker) -> None:
        self.workers = workers
        self._settings = settings
        self._local = local  # reads a batch whose worker died, in this process
        self._pool = self._new_pool()
        #: Every worker answered once: until then the router reads batches itself, so
        #: spawning the workers is never on the way of a (re)started router's first batch.
        self.ready = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self._settings, os.getpid()),
        )

    async def start(self) -> set[int]:
        """Start the workers and wait until they answer; the ids of those that did."""
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _warm) for _ in range(self.workers))
        )
        self.ready = True
        return set(pids)

    async def read(self, values: Sequence[bytes | None]) -> list[Read | Unread]:
        """Read a batch on the workers, each a contiguous share; results in batch order."""
        if not values:
            return []
        loop = asyncio.get_running_loop()
        share = -(-len(values) // self.workers)
        shares = [list(values[i : i + share]) for i in range(0, len(values), share)]
        try:
            results = await asyncio.gather(
                *(loop.run_in_executor(self._pool, _read_share, part) for part in shares)
            )
        except BrokenProcessPool:
            # A worker died (killed, out of memory): new workers for the next batch;
            # this one is read here, so a record that kills a worker is still refused.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return await asyncio.to_thread(lambda: [self._local.read(v) for v in values])
        reads: list[Read | Unread] = []
        for result in results:
            for item in result:
                if isinstance(item, Read):
                    reads.append(item)
                else:
                    agency, fingerprint, portable = item
                    try:
                        error = _rebuilt(portable)
                    except Exception:
                        error = MalformedXmlError("the record cannot be read")
                    reads.append(Unread(error, agency, fingerprint))
        return reads

    def close(self) -> None:
        """Stop the workers (a batch in flight is abandoned: it is handled again)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
