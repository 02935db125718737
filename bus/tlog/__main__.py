"""``python -m bus.tlog``: run the transparency log until SIGINT or SIGTERM."""

from __future__ import annotations

from bus.service_main import run_service_main
from bus.tlog.service import run_log


def main() -> None:
    """Run the log with the settings of the environment."""
    run_service_main("log", lambda settings, stop: run_log(settings, stop=stop))


main()
