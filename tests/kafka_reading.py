"""Reading a topic back in a test, one way for every test: :func:`read_topic`.

It reads with the product's own consumer (:func:`bus.kafka.make_consumer`, no group,
nothing committed) and knows where a partition ends the way the product does
(:func:`bus.kafka.partition_ends`): Tansu lists the first offset of the last record
batch plus one, so a reader stopping at ``end_offsets`` alone misses the rest of
that batch.

Two questions, one function:

* ``read_topic(settings, topic)``: every record from the start of the topic to its
  end as of now (none if the topic does not exist);
* ``read_topic(settings, topic, count=N)``: the first ``N`` records (that ``match``)
  from the start, waiting up to ``within`` seconds for them to be written; fewer
  (possibly none) if they were not, so a test can also assert that nothing came.

The records are aiokafka's own: ``key`` and ``value`` bytes, ``headers`` a list of
``(name, bytes)`` as :func:`bus.records.decode_headers` takes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord, TopicPartition

from bus.kafka import make_consumer, partition_ends, started
from bus.settings import Settings

__all__ = ["read_topic"]

#: How long a fetch may wait for records before the loop looks at its deadline again.
_FETCH_MS = 200


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    count: int | None = None,
    within: float = 20.0,
    match: Callable[[Any], bool] | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of ``topic`` from its start: up to its current end, or the first ``count``.

    Without ``count`` the end is fixed when the read starts and reaching it within
    ``within`` seconds is required (an :class:`AssertionError` otherwise). With
    ``count`` the read stops at ``count`` matching records or after ``within``
    seconds, whichever comes first, and returns what it found.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    found: list[ConsumerRecord[bytes, bytes]] = []
    async with started(make_consumer(settings, group_id=None)) as consumer:
        tps = await _partitions(consumer, topic, wait_until=deadline if count else None)
        if not tps:
            return found
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        if count is None:
            ends = await partition_ends(consumer, tps)
            behind = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
            while behind:
                if loop.time() > deadline:
                    raise AssertionError(f"{topic} was not read to its end in {within} s")
                batch = await consumer.getmany(*behind, timeout_ms=_FETCH_MS)
                for tp, records in batch.items():
                    # Only up to the end fixed at the start: later records are not asked for.
                    found.extend(r for r in records if r.offset < ends[tp])
                behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
            found.sort(key=lambda r: (r.partition, r.offset))
            return [r for r in found if match is None or match(r)]
        while len(found) < count and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=_FETCH_MS)
            for records in batch.values():
                found.extend(r for r in records if match is None or match(r))
        return found


async def _partitions(
    consumer: AIOKafkaConsumer, topic: str, *, wait_until: float | None
) -> list[TopicPartition]:
    """The partitions of ``topic``; none if it is missing (waiting for it until ``wait_until``)."""
    loop = asyncio.get_running_loop()
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer.topics()  # a metadata refresh: the topic may be new
            partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if wait_until is None or loop.time() >= wait_until:
            return []
        await asyncio.sleep(0.2)
