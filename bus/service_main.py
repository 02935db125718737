"""The ``python -m bus.router|bus.tracker|bus.tlog`` entry point, written once.

Each service runs with the settings of the environment until SIGINT or SIGTERM,
which set the ``stop`` event its ``run_*`` function watches so it can finish its
batch and commit; an edxbus error that ends it is one line on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from bus.logs import configure_logging
from bus.settings import Settings, load_settings
from edxml.errors import EdxbusError

__all__ = ["ServiceRun", "run_service_main"]

#: ``run(settings, stop)``: a service's whole life, ending once ``stop`` is set.
ServiceRun = Callable[[Settings, asyncio.Event], Awaitable[None]]


def run_service_main(name: str, run: ServiceRun) -> None:
    """Run ``run`` in the foreground as the service ``name`` until a stop signal."""
    settings = load_settings()
    configure_logging(settings)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(serve())
    except EdxbusError as error:
        print(f"error: {name} stopped: {error} [{error.reason_code}]", file=sys.stderr)
        sys.exit(1)
