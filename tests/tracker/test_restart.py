"""A tracker killed with SIGKILL records again within seconds of its restart.

The killed member never left its group; the group waits one session for it
(``bus.kafka.group_timing``: as short as the broker allows). The figure is printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import fields

import pytest

from bus.kafka import SHORT_SESSION_MS, group_timing, probe_features
from bus.lifecycle import EventKind
from bus.settings import TOPIC_ENV_PREFIX, Settings
from bus.store import create_store_engine, upgrade
from bus.topics import ensure_topics
from tests.tracker.factory import event
from tests.tracker.kafka_helpers import count_rows, produce, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _tracker(settings: Settings) -> asyncio.subprocess.Process:
    environment = dict(os.environ)
    environment.update(
        {
            "EDX_HOME": str(settings.home),
            "EDX_BOOTSTRAP": settings.broker.bootstrap,
            "EDX_DB_URL": settings.resolved_db_url,
            "EDX_TRACKER_GROUP": settings.groups.tracker,
        }
    )
    for field in fields(settings.topics):
        environment[f"{TOPIC_ENV_PREFIX}{field.name.upper()}"] = getattr(
            settings.topics, field.name
        )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bus.tracker",
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


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
        await produce(settings, [event(EventKind.SUBMITTED, "000.00.00.H41.1", "000.00.00.H41")])
        first = await _tracker(settings)
        try:
            started = time.monotonic()
            await wait_for(lambda: count_rows(reader) == 1, within=90, what="the first step")
            cold = time.monotonic() - started
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        await produce(settings, [event(EventKind.SUBMITTED, "000.00.00.H41.2", "000.00.00.H41")])
        second = await _tracker(settings)
        try:
            started = time.monotonic()
            await wait_for(lambda: count_rows(reader) == 2, within=90, what="the second step")
            warm = time.monotonic() - started
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 60)
    finally:
        reader.dispose()
    print(
        f"\ntracker: first start to recorded {cold:.1f} s; "
        f"restart after kill -9 to recorded {warm:.1f} s"
    )
