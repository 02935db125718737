"""Reading ``edx.submit`` for a replay window: the first offset found by a binary search
over record timestamps (``offsets_for_times`` is not exact on every broker), every
record then filtered by its own timestamp."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bus.audit.model import CLOCK_SKEW, LogRecord, ReplayWindow
from bus.errors import BrokerUnavailableError
from bus.kafka import make_consumer, partition_ends, started, translate_errors
from bus.settings import Settings
from bus.topics import broker_time

__all__ = ["read_submit_log"]

_STALL_SECONDS = 30.0


def _record_time(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


async def _timestamp_at(
    consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int
) -> datetime | None:
    consumer.seek(tp, offset)
    deadline = time.monotonic() + _STALL_SECONDS
    while time.monotonic() < deadline:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
        for messages in batch.values():
            if messages:
                return _record_time(messages[0].timestamp)
        if await consumer.position(tp) > offset:
            return None  # nothing readable at or after this offset (a gap at the end)
    raise BrokerUnavailableError(f"no answer reading {tp.topic}/{tp.partition} at {offset}")


async def _first_offset_at(
    consumer: AIOKafkaConsumer, tp: TopicPartition, low: int, high: int, at: datetime
) -> int:
    """The first offset in [low, high) whose record is not older than ``at`` (binary search)."""
    while low < high:
        middle = (low + high) // 2
        stamp = await _timestamp_at(consumer, tp, middle)
        if stamp is not None and stamp < at:
            low = middle + 1
        else:
            high = middle
    return low


async def read_submit_log(
    settings: Settings,
    window: ReplayWindow,
    on_batch: Callable[[list[LogRecord], int, int], Any] | None = None,
    *,
    keep: bool = True,
) -> list[LogRecord]:
    """Every ``edx.submit`` record in ``window`` (agency filtering happens after reading).

    ``on_batch(records, done, total)`` is awaited after each fetched batch when it
    returns an awaitable; ``done``/``total`` count offsets, for a progress bar. With
    ``keep=False`` nothing is kept past its batch (the list returned is empty), so a
    reader that handles each batch in ``on_batch`` holds one batch at a time.

    A record's time is the broker's when the topic has it set (LogAppendTime); on a
    broker that keeps the producer's time, the record says so (``broker_timed``).
    """
    topic = settings.topics.submit
    consumer = make_consumer(settings, group_id=None, enable_auto_commit=False)
    selected: list[LogRecord] = []
    async with started(consumer, "reading edx.submit for the replay"):
        with translate_errors("reading edx.submit for the replay"):
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer.topics()
                partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                return []
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await partition_ends(consumer, tps)  # the true end, not Tansu's listed one
            starts = dict(begins)
            if window.since is not None:
                for tp in tps:
                    starts[tp] = await _first_offset_at(
                        consumer, tp, begins[tp], ends[tp], window.since - CLOCK_SKEW
                    )
            total = sum(ends[tp] - starts[tp] for tp in tps)
            done = 0
            for tp in tps:
                consumer.seek(tp, starts[tp])
            remaining = {tp for tp in tps if starts[tp] < ends[tp]}
            last_progress = time.monotonic()
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                fresh: list[LogRecord] = []
                for tp, messages in batch.items():
                    for message in messages:
                        if message.offset >= ends[tp]:
                            continue
                        stamp = _record_time(message.timestamp)
                        if window.contains(stamp):
                            trusted = broker_time(message.timestamp, message.timestamp_type)
                            fresh.append(
                                LogRecord(
                                    tp.topic,
                                    tp.partition,
                                    message.offset,
                                    stamp,
                                    message.key,
                                    message.value,
                                    broker_timed=trusted is not None,
                                    trusted_time=trusted,
                                )
                            )
                before = done
                positions = {tp: await consumer.position(tp) for tp in tps}
                done = max(before, sum(min(positions[tp], ends[tp]) - starts[tp] for tp in tps))
                remaining = {tp for tp in remaining if positions[tp] < ends[tp]}
                if fresh or done > before:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > _STALL_SECONDS:
                    raise BrokerUnavailableError(f"reading {topic} stalled at {done}/{total}")
                if keep:
                    selected.extend(fresh)
                if on_batch is not None:
                    outcome = on_batch(fresh, min(done, total), total)
                    if asyncio.iscoroutine(outcome):
                        await outcome
    return selected
