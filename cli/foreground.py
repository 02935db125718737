"""Services in the foreground: Ctrl-C (SIGINT) and SIGTERM ask for a clean stop.

Why: a service stopped mid-batch would leave offsets uncommitted and rows half
written; a stop request instead lets it finish its batch, commit and return,
the same path a container stop takes in docker/compose.yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator

from bus import Settings

__all__ = ["ServiceRunner", "on_stop_signals", "run_until_stopped"]

#: A service's entry point: ``run(settings, stop=event)`` returns once ``event`` is set.
ServiceRunner = Callable[..., Awaitable[None]]


@contextlib.contextmanager
def on_stop_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``request_stop`` instead of killing the process."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, request_stop)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_until_stopped(settings: Settings, run: ServiceRunner) -> None:
    """Run one service until a stop signal arrives."""
    stop = asyncio.Event()
    with on_stop_signals(stop.set):
        await run(settings, stop=stop)
