"""The tracker waits for its broker instead of exiting.

A supervisor (``edx up``, systemd) may start the tracker before the broker
answers, or while a broker restarts; the tracker must wait with backoff and
record once the broker is there. Nothing is mocked: a real broker is started
late on the port the tracker was given.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker, free_port
from bus.lifecycle import EventKind
from bus.settings import Settings
from bus.store import create_store_engine
from bus.topics import ensure_topics
from bus.tracker import TrackerOptions, run_tracker
from tests.service_tasks import running_service
from tests.tracker.factory import event
from tests.tracker.kafka_helpers import count_rows, produce, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _tracker(settings: Settings, stop: asyncio.Event) -> None:
    await run_tracker(settings, stop=stop, options=TrackerOptions(use_directory=False))


async def test_tracker_started_before_its_broker_waits_and_records(
    bus_settings: Settings, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = bus_settings.with_values(bootstrap=f"127.0.0.1:{port}", db_url=sqlite_url)
    reader = create_store_engine(sqlite_url)
    try:
        async with running_service(lambda stop: _tracker(settings, stop)) as tracker:
            await asyncio.sleep(3.0)  # several failed attempts against a closed port
            task = tracker.task
            assert not task.done(), f"the tracker ended without a broker: {task.exception()!r}"
            async with EmbeddedBroker(port=port, log_path=tmp_path / "broker.log"):
                await ensure_topics(settings)
                await produce(
                    settings, [event(EventKind.SUBMITTED, "000.00.00.H41.1", "000.00.00.H41")]
                )
                await wait_for(lambda: count_rows(reader) == 1, within=90, what="the first step")
                assert not task.done()
                await tracker.stopped()
    finally:
        reader.dispose()


async def test_tracker_asked_to_stop_while_waiting_ends_quietly(
    bus_settings: Settings, sqlite_url: str
) -> None:
    settings = bus_settings.with_values(bootstrap=f"127.0.0.1:{free_port()}", db_url=sqlite_url)
    async with running_service(lambda stop: _tracker(settings, stop)) as tracker:
        await asyncio.sleep(1.0)
        assert not tracker.task.done()
        await tracker.stopped()  # returns, raises nothing
