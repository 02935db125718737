"""``python -m bus.tlog``: run the transparency log until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from bus.errors import BusError
from bus.logs import configure_logging
from bus.settings import load_settings
from bus.tlog.service import run_log


def main() -> None:
    """Run the log with the settings of the environment."""
    settings = load_settings()
    configure_logging(settings)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await run_log(settings, stop=stop)

    try:
        asyncio.run(serve())
    except BusError as error:
        print(f"error: {error} [{error.reason_code}]", file=sys.stderr)
        sys.exit(1)


main()
