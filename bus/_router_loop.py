"""The router's consume loop: fetch a batch of ``edx.submit``, check, decide and
route it, await every write, record the deliveries, then commit the offsets.

A batch that fails is rewound so it is handled again; a retriable failure backs
off and retries, anything else ends the loop. Offsets are committed only after
every write of the batch is acknowledged and recorded (at-least-once delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka import errors as kafka_errors
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from bus import metrics
from bus._router_check import Refused
from bus._router_decide import RouterDecisions
from bus._router_writes import RouterWrites, _Batch
from bus.errors import (
    BrokerError,
    BusError,
    InactiveAgencyError,
    UnknownAgencyError,
    UnreadableRecordError,
)
from bus.kafka import rewind_lost_partitions, translate_errors
from bus.logs import get_logger
from bus.records import content_digest

__all__ = ["MAX_BACKOFF_SECONDS", "MAX_BATCH", "RouterLoop"]

#: The router's log lines keep the router's logger name wherever they are written.
log = get_logger("bus.router")

_DIRECTORY_REFUSALS = (UnknownAgencyError, InactiveAgencyError)
#: Commit failures meaning "these partitions are someone else's now".
_LOST_PARTITIONS = (
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.UnknownMemberIdError,
)

#: Records handled per batch at most (one commit per batch).
MAX_BATCH = 200
#: Longest wait after a retriable failure before the batch is tried again.
MAX_BACKOFF_SECONDS = 30.0
#: Seconds between two looks for partitions the broker lost (on quiet fetches only).
LOSS_CHECK_SECONDS = 2.0
#: The router prunes its store once per this many accepted packages.
_PRUNE_EVERY = 10_000


class RouterLoop(RouterDecisions, RouterWrites):
    """The loop around one batch at a time."""

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Route until ``stop`` is set. Retriable failures back off and retry the batch."""
        stop = stop or asyncio.Event()
        backoff = 0.5
        while not stop.is_set():
            try:
                await self.route_available(timeout_ms=500)
                backoff = 0.5
            except BusError as error:
                if not error.retriable:
                    raise
                self.stats.failed_batches += 1
                self._copies.forget()  # the broker failed: check copies against it again
                log.warning("router will retry the batch", error=str(error), wait=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def route_available(self, *, timeout_ms: int = 1000) -> int:
        """Fetch one batch (waiting up to ``timeout_ms``), route it, commit. Returns its size."""
        consumer = self._require(self._consumer)
        careful = self._careful
        try:
            with translate_errors("reading edx.submit"):
                batch = await consumer.getmany(
                    timeout_ms=timeout_ms, max_records=1 if careful else MAX_BATCH
                )
        except BrokerError as error:
            if not isinstance(error.__cause__, kafka_errors.CorruptRecordException):
                raise
            await self._step_past_corruption(consumer, error)
            return 0
        if careful is not None and batch.get(careful[0]):
            self._careful = None  # the partition reads again
        records = [r for partition in batch.values() for r in partition]
        if not records:
            await self._rewind_lost_partitions(consumer)
            return 0
        try:
            with metrics.time_processing("router"):
                await self._route_batch(records)
        except BaseException:
            await self._rewind(batch)
            raise
        offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batch.items() if rs}
        try:
            with translate_errors("committing router offsets"):
                await consumer.commit(offsets)
        except BusError as error:
            if not isinstance(error.__cause__, _LOST_PARTITIONS):
                raise
            # The group rebalanced meanwhile: the partitions' new owner handles the
            # batch again, and the store keeps that from delivering anything twice.
            log.warning("offsets not committed: the group rebalanced", error=str(error))
        await self._report_lag(consumer)
        return len(records)

    async def _rewind_lost_partitions(self, consumer: AIOKafkaConsumer) -> None:
        """Between quiet fetches, look for partitions the broker lost under this router.

        Its position would lie past the new log's end, and Tansu never says so: the
        sender's re-submissions below that position would wait unseen.
        """
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_loss_check:
            return
        self._next_loss_check = loop.time() + LOSS_CHECK_SECONDS
        with translate_errors("reading the ends of edx.submit"):
            lost = await rewind_lost_partitions(consumer)
        if lost:
            self._copies.forget()
            log.warning(
                "the broker lost edx.submit partitions: reading them again from their start",
                partitions=",".join(str(tp.partition) for tp in lost),
            )

    async def _step_past_corruption(self, consumer: AIOKafkaConsumer, error: BrokerError) -> None:
        """A batch of ``edx.submit`` failed its CRC: find the record and move past it.

        The driver refuses the whole fetch, good records before the bad batch
        included. So the partition is read one record at a time: a record that
        comes back is routed as usual; failing twice at the same position means
        the record there is unreadable. It goes to the dead-letter topic as
        coordinates only and its offset is committed, so no restart meets it again.
        """
        cause = str(error.__cause__)
        tp = next((tp for tp in consumer.assignment() if str(tp) in cause), None)
        if tp is None:
            raise error
        position = await consumer.position(tp)
        if self._careful != (tp, position):
            self._careful = (tp, position)
            log.warning(
                "a corrupt batch on edx.submit: reading it record by record",
                partition=tp.partition,
                offset=position,
            )
            return
        await self._dead_letter_unreadable(
            UnreadableRecordError(tp.topic, tp.partition, position, cause)
        )
        consumer.seek(tp, position + 1)
        self._careful = None
        try:
            with translate_errors("committing router offsets"):
                await consumer.commit({tp: OffsetAndMetadata(position + 1, "")})
        except BusError as lost:
            if not isinstance(lost.__cause__, _LOST_PARTITIONS):
                raise
            log.warning("offsets not committed: the group rebalanced", error=str(lost))

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Publish how far behind edx.submit this router is, per partition."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(Exception):  # a partition revoked meanwhile
                position = await consumer.position(tp)
                metrics.set_consumer_lag("router", tp.topic, tp.partition, highwater - position)

    async def _rewind(self, batch: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        """After a failed batch, go back to its first records so it is handled again."""
        consumer = self._consumer
        if consumer is None:
            return
        for tp, records in batch.items():
            if records and tp in consumer.assignment():
                consumer.seek(tp, records[0].offset)

    async def _settled_retries(
        self, records: Sequence[ConsumerRecord[Any, Any]]
    ) -> list[ConsumerRecord[Any, Any]]:
        """The records left once re-submissions every recipient already has are set aside.

        A sender's outbox re-submits until every recipient answers, so retries
        can outnumber new packages; each must cost next to nothing, or the
        answers that would stop them wait behind them. Bytes accepted before
        (found by digest) were verified then: when every copy is still in place
        (known to this router, or read back at its recorded offset) the record is
        a retry with nothing to do. Anything else takes the full path.
        """
        digests = [content_digest(r.value) if r.value else "" for r in records]
        known = await asyncio.to_thread(self._store.by_digests, [d for d in digests if d])
        if not known:
            return list(records)
        left = []
        settled: set[str] = set()
        unsettled: set[str] = set()  # a copy is missing: the retry takes the full path
        for record, digest in zip(records, digests, strict=True):
            accepted = known.get(digest)
            if (
                accepted is not None
                and not accepted.undelivered
                and digest not in unsettled
                and (digest in settled or not await self._lost_copies(accepted, _Batch()))
            ):
                settled.add(digest)
                self.stats.handled += 1
                self.stats.retries += 1
                metrics.record_submitted()
                continue
            unsettled.add(digest)
            left.append(record)
        if settled:
            log.debug("re-submissions already delivered", count=len(records) - len(left))
        return left

    async def _route_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        records = await self._settled_retries(records)
        if not records:
            return
        # The checks (signature, parse, directory) need no memory of other packages:
        # run them side by side on the worker threads; decide and route in order.
        outcomes = await self._check_all(records)
        stale = [
            i
            for i, o in enumerate(outcomes)
            if isinstance(o, Refused) and isinstance(o.error, _DIRECTORY_REFUSALS)
        ]
        if stale:
            # An agency registered (or reinstated) a moment ago: read the directory
            # to its end before refusing anyone over it.
            await self._follower.refresh()
            for i in stale:
                outcomes[i] = await self._check(records[i])
        # Retry, replay or new, and who gets it: decided in order, in one transaction.
        decisions = await asyncio.to_thread(self._decide_all, outcomes)
        work = _Batch()
        for record, outcome, decision in zip(records, outcomes, decisions, strict=True):
            await self._route_record(record, outcome, decision, work)
        if work.sends:
            with translate_errors("writing inboxes and events"):
                await asyncio.gather(*work.sends)
        now = datetime.now(UTC)
        landed = work.acknowledged()
        await asyncio.to_thread(self._store.mark_delivered, landed, now=now)
        for d in landed:  # acknowledged: known to be in place until the next join
            digest = work.digests.get((d.sender, d.key))
            if digest is not None and d.partition is not None and d.offset is not None:
                self._copies.remember(
                    self.settings.topics.inbox(d.recipient), d.partition, d.offset, digest
                )
        self.stats.delivered += len(work.deliveries)
        metrics.record_delivered(len(work.deliveries))
        self._since_prune += len(records)
        if self._since_prune >= _PRUNE_EVERY:
            self._since_prune = 0
            await asyncio.to_thread(self._store.prune, now=now)
