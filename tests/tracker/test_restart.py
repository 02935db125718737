"""A tracker killed with SIGKILL records again within seconds of its restart.

The killed member never left its group; the group waits one session for it
(``bus.kafka.group_timing``: as short as the broker allows). The figure is printed.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
from sqlalchemy import Engine

from bus.kafka import SHORT_SESSION_MS, group_timing, probe_features
from bus.lifecycle import EventKind
from bus.settings import Settings
from bus.store import create_store_engine, upgrade
from bus.topics import ensure_topics
from tests.service_processes import seconds_to_work, start_service
from tests.tracker.factory import event
from tests.tracker.kafka_helpers import count_rows, produce, tracker_environment, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _tracker(settings: Settings) -> asyncio.subprocess.Process:
    return await start_service(
        "bus.tracker", tracker_environment(settings), output=asyncio.subprocess.DEVNULL
    )


async def _record_one(
    settings: Settings, reader: Engine, *, recorded: int, ending: signal.Signals
) -> float:
    """Seconds a new tracker process takes to record one more step, ended then."""
    document_id = f"000.00.00.H41.{recorded}"
    await produce(settings, [event(EventKind.SUBMITTED, document_id, "000.00.00.H41")])

    async def worked() -> None:
        await wait_for(lambda: count_rows(reader) == recorded, within=90, what=f"step {recorded}")

    return await seconds_to_work(await _tracker(settings), worked, ending)


async def test_a_tracker_restarted_after_kill_9_records_again_quickly(
    bus_settings: Settings, sqlite_url: str
) -> None:
    settings = bus_settings.with_values(db_url=sqlite_url)
    await ensure_topics(settings)
    features = await probe_features(settings)
    assert group_timing(settings)["session_timeout_ms"] == max(
        SHORT_SESSION_MS, features.min_session_timeout_ms or 0
    )
    upgrade(sqlite_url)
    reader = create_store_engine(sqlite_url)
    try:
        # Killed: the first never leaves the group. The second must not wait long for it.
        cold = await _record_one(settings, reader, recorded=1, ending=signal.SIGKILL)
        warm = await _record_one(settings, reader, recorded=2, ending=signal.SIGTERM)
    finally:
        reader.dispose()
    print(
        f"\ntracker: first start to recorded {cold:.1f} s; "
        f"restart after kill -9 to recorded {warm:.1f} s"
    )
