"""An agency client's link to the bus: a producer, and the agency's inbox read by direct
assignment, connected now or retried in the background when the client started offline.

The producer is replaced when it answered an error aiokafka does not retry (it may be
stuck with the old broker's state) or when the broker lost its data: it is marked
failed, and the next publication gets a new one (:meth:`BusConnection.usable_producer`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition

from agency_client.errors import NotAuthorisedError
from agency_client.tuning import ClientTuning
from bus import BusError, Settings, get_logger, make_consumer, make_producer, translate_errors

__all__ = ["BusConnection"]

_log = get_logger("agency_client")

#: Seconds between two attempts of a client that started offline.
_RECONNECT_EVERY = 2.0


class BusConnection:
    """The producer and inbox consumer of one agency, and their lifecycle."""

    def __init__(
        self, settings: Settings, agency: str, *, group_id: str, tuning: ClientTuning
    ) -> None:
        self.settings = settings
        self.agency = agency
        self.group_id = group_id
        self.tuning = tuning
        self.consumer: Any | None = None
        self._producer: Any | None = None
        # The producer answered an error aiokafka does not retry: replace it before its next use.
        self._producer_failed = False
        self._renewing = asyncio.Lock()

    @property
    def connected(self) -> bool:
        """Whether a producer is there to publish with (the client may start offline)."""
        return self._producer is not None

    async def connect(self) -> Any:
        """Start a producer and the inbox consumer; the consumer (raises :class:`BusError`)."""
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
            await quietly(producer.stop())
            await quietly(consumer.stop())
            raise
        self._producer, self.consumer = producer, consumer
        return consumer

    async def connect_when_possible(self, attach: Callable[[Any], None]) -> None:
        """Try again every few seconds until connected; then hand ``attach`` the consumer."""
        while True:
            await asyncio.sleep(_RECONNECT_EVERY)
            try:
                consumer = await self.connect()
            except (BusError, NotAuthorisedError) as exc:
                _log.info("agency %s still offline: %s", self.agency, exc, agency=self.agency)
                continue
            _log.info("agency %s connected to the bus", self.agency, agency=self.agency)
            attach(consumer)
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

    # --- the producer ----------------------------------------------------------

    @property
    def producer(self) -> Any | None:
        """The current producer (``None`` offline); publish with :meth:`usable_producer`."""
        return self._producer

    async def usable_producer(self) -> Any | None:
        """The producer to publish with (a new one if the last failed); ``None`` offline.

        Raises :class:`BusError` when a failed producer cannot be replaced yet.
        """
        if self._producer_failed:
            async with self._renewing:  # one renewal, however many publications wait
                if self._producer_failed:
                    await self._renew_producer()
        return self._producer

    def producer_failed(self, producer: Any | None = None) -> None:
        """Replace the producer before its next use (``producer``: only if still in use)."""
        if producer is None or producer is self._producer:  # not one replaced already
            self._producer_failed = True

    async def _renew_producer(self) -> None:
        fresh = make_producer(self.settings, linger_ms=self.tuning.linger_ms)
        try:
            with translate_errors(f"reconnecting the producer of {self.agency}"):
                await fresh.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await fresh.stop()
            raise
        old, self._producer, self._producer_failed = self._producer, fresh, False
        _log.info("agency %s: producer replaced", self.agency, agency=self.agency)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()

    async def close(self) -> None:
        """Stop the consumer and the producer (errors of a broken link are ignored)."""
        consumer, producer = self.consumer, self._producer
        self.consumer = self._producer = None
        if consumer is not None:
            await quietly(consumer.stop())
        if producer is not None:
            await quietly(producer.stop())


async def quietly(awaitable: Awaitable[Any]) -> None:
    """Await, ignoring any error (closing what may already be broken)."""
    with contextlib.suppress(Exception):
        await awaitable
