"""Producing lifecycle events to a real broker and waiting on the tracker's tables."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from sqlalchemy import Engine, func, select

from bus.kafka import make_producer
from bus.lifecycle import LifecycleEvent, encode_event
from bus.settings import Settings
from bus.store.schema import history, quarantine
from bus.tracker import Tracker, TrackerOptions
from tests.service_processes import topic_environment

#: Join the group sooner (Tansu waits about half the session timeout before assigning).
FAST_JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
FAST = TrackerOptions(
    batch_size=200,
    poll_timeout_seconds=0.1,
    retry_initial_seconds=0.1,
    retry_max_seconds=0.5,
    use_directory=False,
)


async def produce(
    settings: Settings, events: Iterable[LifecycleEvent], *, raw: Iterable[bytes] = ()
) -> None:
    """Write events to ``edx.events`` keyed by document id, as the router does."""
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in events:
            await producer.send(
                settings.topics.events,
                encode_event(event),
                key=event.document_id.encode(),
            )
        for value in raw:
            await producer.send(settings.topics.events, value, key=b"garbage")
        await producer.flush()
    finally:
        await producer.stop()


async def record_all(settings: Settings, events: int, *, within: float = 120.0) -> None:
    """Let a tracker record ``events`` events of the test's topic (a repeat counts too)."""
    loop = asyncio.get_running_loop()
    async with Tracker(settings) as tracker:
        deadline = loop.time() + within
        while tracker.stats.recorded + tracker.stats.duplicates < events:
            assert loop.time() < deadline, f"the tracker recorded {tracker.stats}"
            await tracker.step()


def tracker_environment(settings: Settings) -> dict[str, str]:
    """What ``python -m bus.tracker`` needs to record the test's events in its database."""
    return {
        "EDX_HOME": str(settings.home),
        "EDX_BOOTSTRAP": settings.broker.bootstrap,
        "EDX_DB_URL": settings.resolved_db_url,
        "EDX_TRACKER_GROUP": settings.groups.tracker,
        **topic_environment(settings.topics),
    }


def count_rows(engine: Engine, table: Any = history) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


async def wait_for(
    predicate: Callable[[], bool], within: float = 60.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true; fail the test with ``what`` after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_tracker(
    settings: Settings, options: TrackerOptions = FAST
) -> AsyncIterator[Tracker]:
    """A tracker running in a task for the duration of the block, then stopped cleanly."""
    stop = asyncio.Event()
    tracker = Tracker(settings, options=options, consumer_options=FAST_JOIN)
    await tracker.start(stop)
    task = asyncio.create_task(tracker.run(stop))
    try:
        yield tracker
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await tracker.stop()


__all__ = [
    "FAST",
    "count_rows",
    "produce",
    "quarantine",
    "record_all",
    "running_tracker",
    "tracker_environment",
    "wait_for",
]
