"""Connecting an agency client to the bus: a producer, and the agency's inbox read by
direct assignment, retried in the background when the client started offline.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import TopicPartition

from agency_client._client_state import ClientState, _Parts
from agency_client.errors import NotAuthorisedError
from bus import BusError, get_logger, make_consumer, make_producer, translate_errors

__all__ = ["ClientConnection"]

_log = get_logger("agency_client")


class ClientConnection(ClientState):
    """Connecting to the bus (now, or later in the background)."""

    async def _connect(self, parts: _Parts) -> None:
        """Start a producer and the inbox consumer; on success, hand them to ``parts``."""
        producer = make_producer(self.settings, linger_ms=self.tuning.linger_ms)
        consumer = make_consumer(
            self.settings,
            group_id=self.group_id,
            fetch_max_wait_ms=self.tuning.fetch_max_wait_ms,
            max_poll_records=self.tuning.max_batch,
        )
        try:
            with translate_errors(f"connecting agency {self.agency} to the bus"):
                await producer.start()
                await consumer.start()
                await self._assign_inbox(consumer)
        except BaseException:
            await _quietly(producer.stop())
            await _quietly(consumer.stop())
            raise
        parts.producer, parts.consumer = producer, consumer
        parts.reader.attach(consumer)

    async def _connect_loop(self, parts: _Parts) -> None:
        while True:
            await asyncio.sleep(2.0)
            try:
                await self._connect(parts)
            except (BusError, NotAuthorisedError) as exc:
                _log.info("agency %s still offline: %s", self.agency, exc, agency=self.agency)
                continue
            _log.info("agency %s connected to the bus", self.agency, agency=self.agency)
            return

    async def _assign_inbox(self, consumer: Any) -> None:
        """Read every partition of the agency's inbox, from the committed offsets.

        An inbox has one reader, its agency's client, so partitions are assigned
        directly rather than through group membership: no rebalance waits, and the
        group id serves only to keep the committed offsets. Run one client per
        agency at a time (its outbox and dedup store are local to it).
        """
        topic = self.settings.topics.inbox(self.agency)
        await consumer.topics()  # refreshes the metadata
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise NotAuthorisedError(
                self.agency, f"its inbox topic {topic} does not exist (is the agency registered?)"
            )
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
