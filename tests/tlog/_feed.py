"""Writing lifecycle events to ``edx.events`` and environments for a log process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bus import Settings, make_producer
from bus.lifecycle import LifecycleEvent, encode_event
from bus.tlog import LogSettings
from tests.service_processes import bus_environment


async def produce_events(settings: Settings, events: list[LifecycleEvent]) -> None:
    """Write ``events`` to the events topic, keyed by document id, and wait for every ack."""
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(
                settings.topics.events,
                encode_event(event),
                key=event.document_id.encode(),
            )
            for event in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def log_environment(settings: Settings, log_settings: LogSettings) -> dict[str, str]:
    """The environment that makes ``python -m bus.tlog`` use these settings."""
    return {
        **os.environ,
        **bus_environment(settings),
        "EDX_PARTITIONS": str(settings.topic_layout.partitions),
        "EDX_LOG_DB_URL": log_settings.db_url,
        "EDX_LOG_ORIGIN": log_settings.origin,
        "EDX_LOG_TOPIC": log_settings.topic,
        "EDX_LOG_CHECKPOINT_SECONDS": str(log_settings.checkpoint_seconds),
        **({"EDX_TSA_URL": log_settings.tsa_url} if log_settings.tsa_url else {}),
    }


def log_db(tmp_path: Path) -> str:
    """A fresh SQLite file for the log."""
    return f"sqlite:///{tmp_path / 'log.db'}"
