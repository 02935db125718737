"""Starting a service whose broker or database is not there yet.

A service is started by a supervisor (``edx up``, systemd, an orchestrator) that
may bring it up before its broker or its database, or while they restart. It
waits for them with backoff instead of exiting; a failure that waiting cannot
mend (a configuration error) is raised at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from bus.errors import BusError
from bus.logs import get_logger

__all__ = ["FIRST_WAIT_SECONDS", "LONGEST_WAIT_SECONDS", "start_with_backoff"]

log = get_logger(__name__)

#: First wait after a start that failed on an unreachable broker or store.
FIRST_WAIT_SECONDS = 0.25
#: The wait doubles up to this.
LONGEST_WAIT_SECONDS = 5.0


async def start_with_backoff(
    service: str,
    start: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    on_retry: Callable[[BusError], None] | None = None,
) -> bool:
    """Call ``start`` until it succeeds (``True``) or ``stop`` is set first (``False``).

    ``start`` must close whatever it opened when it fails. A :class:`BusError`
    that is not ``retriable`` is raised; ``on_retry`` sees every retriable one.
    """
    wait = FIRST_WAIT_SECONDS
    while not stop.is_set():
        try:
            await start()
            return True
        except BusError as error:
            if not error.retriable:
                raise
            if on_retry is not None:
                on_retry(error)
            log.warning(f"{service} waits for its broker and store", error=str(error), wait=wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        wait = min(wait * 2, LONGEST_WAIT_SECONDS)
    return False
