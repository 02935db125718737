"""The tracker service: ``edx.events`` in, the tracker's SQL tables (:mod:`bus.store`) out.

:mod:`bus.tracker.service` consumes the events and records them; ``python -m
bus.tracker`` (:mod:`bus.tracker.__main__`) runs it until SIGINT or SIGTERM.
"""

from bus.tracker.service import Tracker, TrackerOptions, TrackerStats, main, run_tracker

__all__ = ["Tracker", "TrackerOptions", "TrackerStats", "main", "run_tracker"]
