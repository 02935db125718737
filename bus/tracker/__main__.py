"""``python -m bus.tracker``: run the tracker until SIGINT or SIGTERM."""

from __future__ import annotations

from bus.tracker.service import main

main()
