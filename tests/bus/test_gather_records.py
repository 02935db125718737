"""How the tracker and the transparency log gather one batch from several fetches.

The consumer here is a scripted stand-in for what ``getmany`` hands out (the
gathering is arithmetic over its answers); the tracker and the log against the
real broker are tested in tests/tracker and tests/tlog, with their gathering
times as shipped.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import TopicPartition

from bus.kafka import gather_records

P0 = TopicPartition("edx.events", 0)
P1 = TopicPartition("edx.events", 1)


class ScriptedConsumer:
    """Answers each ``getmany`` with the next scripted fetch (then nothing)."""

    def __init__(self, fetches: list[dict[TopicPartition, list[int]]]) -> None:
        self.fetches = list(fetches)
        self.asked: list[int] = []

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[int]]:
        self.asked.append(max_records)
        if not self.fetches:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        fetch = self.fetches.pop(0)
        assert sum(len(m) for m in fetch.values()) <= max_records
        return {partition: list(messages) for partition, messages in fetch.items()}


async def _gather(
    consumer: ScriptedConsumer,
    stop: asyncio.Event | None = None,
    *,
    gather_seconds: float,
    max_records: int = 1000,
) -> dict[TopicPartition, list[int]]:
    return await gather_records(
        consumer,
        poll_ms=10,
        max_records=max_records,
        gather_seconds=gather_seconds,
        stop=stop,
    )


async def test_fetches_within_the_gathering_time_make_one_batch_in_partition_order() -> None:
    consumer = ScriptedConsumer([{P0: [1, 2]}, {P1: [10]}, {P0: [3], P1: [11, 12]}])
    batch = await _gather(consumer, gather_seconds=1.0, max_records=100)
    assert batch == {P0: [1, 2, 3], P1: [10, 11, 12]}
    assert consumer.asked[:3] == [100, 98, 97]


async def test_a_batch_never_exceeds_the_batch_size() -> None:
    consumer = ScriptedConsumer([{P0: [1, 2, 3]}, {P0: [4, 5]}, {P0: [6, 7, 8]}])
    batch = await _gather(consumer, gather_seconds=5.0, max_records=5)
    assert batch == {P0: [1, 2, 3, 4, 5]}
    assert consumer.asked == [5, 2]  # full: no third fetch, however long the gathering time


@pytest.mark.parametrize("gather_seconds", [0.0, 5.0])
async def test_an_empty_fetch_or_no_gathering_time_returns_the_first_fetch(
    gather_seconds: float,
) -> None:
    first: dict[TopicPartition, list[int]] = {} if gather_seconds else {P0: [1]}
    consumer = ScriptedConsumer([first, {P0: [2]}])
    assert await _gather(consumer, gather_seconds=gather_seconds) == first
    assert len(consumer.asked) == 1


async def test_a_stop_ends_the_gathering() -> None:
    stop = asyncio.Event()
    stop.set()
    consumer = ScriptedConsumer([{P0: [1]}, {P0: [2]}])
    assert await _gather(consumer, stop, gather_seconds=5.0) == {P0: [1]}
