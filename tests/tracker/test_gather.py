"""How the tracker gathers one batch from several fetches.

The consumer here is a scripted stand-in for what ``getmany`` hands out (the
gathering is arithmetic over its answers); the tracker against the real broker is
tested in test_service.py and test_end_to_end.py, with ``gather_seconds`` as shipped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from bus.settings import Settings
from bus.tracker import Tracker, TrackerOptions

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


def _tracker(tmp_path: Any, **options: Any) -> Tracker:
    settings = Settings.of(home=tmp_path, bootstrap="127.0.0.1:9")
    return Tracker(settings, options=TrackerOptions(**options), names=lambda _code: None)


async def test_fetches_within_the_gathering_time_make_one_batch_in_partition_order(
    tmp_path: Any,
) -> None:
    consumer = ScriptedConsumer([{P0: [1, 2]}, {P1: [10]}, {P0: [3], P1: [11, 12]}])
    tracker = _tracker(tmp_path, gather_seconds=0.2, batch_size=100)
    batch = await tracker._gather(consumer, None)
    assert batch == {P0: [1, 2, 3], P1: [10, 11, 12]}
    assert consumer.asked[:3] == [100, 98, 97]


async def test_a_batch_never_exceeds_the_batch_size(tmp_path: Any) -> None:
    consumer = ScriptedConsumer([{P0: [1, 2, 3]}, {P0: [4, 5]}, {P0: [6, 7, 8]}])
    tracker = _tracker(tmp_path, gather_seconds=5.0, batch_size=5)
    batch = await tracker._gather(consumer, None)
    assert batch == {P0: [1, 2, 3, 4, 5]}
    assert consumer.asked == [5, 2]  # full: no third fetch, however long the gathering time


@pytest.mark.parametrize("gather_seconds", [0.0, 5.0])
async def test_an_empty_fetch_or_no_gathering_time_returns_the_first_fetch(
    tmp_path: Any, gather_seconds: float
) -> None:
    first: dict[TopicPartition, list[int]] = {} if gather_seconds else {P0: [1]}
    consumer = ScriptedConsumer([first, {P0: [2]}])
    tracker = _tracker(tmp_path, gather_seconds=gather_seconds, poll_timeout_seconds=0.01)
    assert await tracker._gather(consumer, None) == first
    assert len(consumer.asked) == 1


async def test_a_stop_ends_the_gathering(tmp_path: Any) -> None:
    stop = asyncio.Event()
    stop.set()
    consumer = ScriptedConsumer([{P0: [1]}, {P0: [2]}])
    tracker = _tracker(tmp_path, gather_seconds=5.0)
    assert await tracker._gather(consumer, stop) == {P0: [1]}
