"""A bus service run as a task of the test, with the stop event it is given.

The waiting tests start a service (``run_router``, ``run_tracker``) before what it
needs is there, so the service must still be running when the test asks it to stop.
A clean stop within a bound is part of what they test; a failed test still never
leaves the task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunningService:
    """The service's task and the event that asks it to stop."""

    task: asyncio.Task[None]
    stop: asyncio.Event

    async def stopped(self, within: float = 30.0) -> None:
        """Ask the service to stop and wait until it returned (or raise what it raised)."""
        self.stop.set()
        await asyncio.wait_for(self.task, within)


@contextlib.asynccontextmanager
async def running_service(
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> AsyncIterator[RunningService]:
    """``run(stop)`` as a task for the block; asked to stop, and cancelled if still running."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    try:
        yield RunningService(task, stop)
    finally:
        stop.set()
        if not task.done():
            task.cancel()
