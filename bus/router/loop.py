"""The router's loop: fetch -> check -> decide -> write -> commit, one batch at a time.

One batch of ``edx.submit`` at a time (:meth:`RouteLoop.route_available`):

1. fetch up to :data:`MAX_BATCH` records (one at a time on a partition where a
   corrupt batch was met);
2. set aside re-submissions already delivered everywhere (the decider, by digest);
3. check the rest (:mod:`bus.router.checker`, in parallel);
4. decide each in order against the acceptance store (:mod:`bus.router.decider`);
5. write what each becomes (:mod:`bus.router.writer`), await every write, and
   record the acknowledged copies in the store;
6. commit the offsets.

Delivery is at-least-once with idempotent effects: offsets are committed only
after every write of the batch is acknowledged and recorded, so a crash in
between means the batch is handled again and the store keeps recipients from
getting a copy twice. A batch that fails is rewound; a retriable failure backs
off and retries the batch, anything else ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord
from aiokafka import errors as kafka_errors
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from bus import metrics
from bus.errors import BrokerError, BusError, UnreadableRecordError
from bus.kafka import LostPartitionWatch, make_consumer, translate_errors
from bus.logs import get_logger
from bus.router.checker import BatchChecker
from bus.router.decider import Decider
from bus.router.inboxes import Inboxes
from bus.router.stats import RouterStats
from bus.router.writer import BatchWrites, Writer
from bus.settings import Settings

__all__ = ["MAX_BACKOFF_SECONDS", "MAX_BATCH", "RouteLoop"]

#: The router's log lines keep the router's logger name wherever they are written.
log = get_logger("bus.router")

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

_Batch = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


class _ForgetCopiesOnJoin(ConsumerRebalanceListener):  # type: ignore[misc]
    """Each join of the group starts with no inbox copy taken for granted.

    A broker that lost its data lost the group too: rejoining is how the router
    notices, so copies it knew of are read back from the log again.
    """

    def __init__(self, inboxes: Inboxes) -> None:
        self._inboxes = inboxes

    async def on_partitions_revoked(self, revoked: Any) -> None:
        del revoked

    async def on_partitions_assigned(self, assigned: Any) -> None:
        del assigned
        self._inboxes.forget()


class RouteLoop:
    """The router's member of its consumer group on ``edx.submit``, and what it does
    with each batch it fetches.

    It owns the group consumer (:meth:`start`, :meth:`stop`) and the order of the
    steps; each step is a collaborator's: ``checker`` checks, ``decider``
    decides, ``writer`` writes, ``inboxes`` is told when copies can no longer be
    vouched for. ``stats`` counts settled retries and failed batches.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str,
        checker: BatchChecker,
        decider: Decider,
        writer: Writer,
        inboxes: Inboxes,
        stats: RouterStats,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        self._checker = checker
        self._decider = decider
        self._writer = writer
        self._inboxes = inboxes
        self._stats = stats
        self._consumer_options = dict(consumer_options or {})
        self._consumer: AIOKafkaConsumer | None = None
        #: A partition read record by record after a corrupt batch, and where it failed.
        self._careful: tuple[TopicPartition, int] | None = None
        self._loss_watch = LostPartitionWatch(settings.topics.submit)

    # --- membership -------------------------------------------------------------

    async def start(self) -> None:
        """Join the group on ``edx.submit`` (after :func:`bus.kafka.probe_features`,
        which sets the group's timing)."""
        consumer = make_consumer(
            self.settings,
            group_id=self.group_id,
            max_poll_records=MAX_BATCH,
            **self._consumer_options,
        )
        consumer.subscribe(
            [self.settings.topics.submit], listener=_ForgetCopiesOnJoin(self._inboxes)
        )
        self._consumer = consumer
        with translate_errors("joining the router group"):
            await consumer.start()

    async def stop(self) -> None:
        """Leave the group. Idempotent."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The ``edx.submit`` partitions this router holds in its group right now."""
        consumer = self._consumer
        return frozenset(consumer.assignment()) if consumer is not None else frozenset()

    # --- the loop ---------------------------------------------------------------

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
                self._stats.failed_batches += 1
                self._inboxes.forget()  # the broker failed: check copies against it again
                log.warning("router will retry the batch", error=str(error), wait=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def route_available(self, *, timeout_ms: int = 1000) -> int:
        """Fetch one batch (waiting up to ``timeout_ms``), route it, commit. Returns its size."""
        consumer = self._consumer
        if consumer is None:
            raise BusError("the router is not started")
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
            if self._consumer is consumer:  # not stopped meanwhile
                self._rewind(consumer, batch)
            raise
        await self._commit(
            consumer,
            {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batch.items() if rs},
        )
        await self._report_lag(consumer)
        return len(records)

    async def _route_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Check, decide and write one batch; return once every write is acknowledged
        and recorded (the offsets may then be committed)."""
        # Re-submissions every recipient already has: settled by digest, unchecked.
        settled = await self._decider.settled([r.value for r in records])
        records = [r for r, done in zip(records, settled, strict=True) if not done]
        if len(records) < len(settled):
            self._count_settled(len(settled) - len(records))
        if not records:
            return
        # Check: signature, parse and directory, side by side.
        outcomes = await self._checker.check([r.value for r in records])
        # Decide: retry, replay or new, and who gets it; in order, in one transaction.
        decisions = await asyncio.to_thread(self._decider.decide_all, outcomes)
        # Write: every record's sends, then all of them awaited together.
        writes = BatchWrites()
        for record, outcome, decision in zip(records, outcomes, decisions, strict=True):
            await self._writer.route(record, outcome, decision, writes)
        landed = await self._writer.flush(writes)
        # Record the acknowledged copies; only then may the offsets be committed.
        now = datetime.now(UTC)
        await asyncio.to_thread(self._decider.record_delivered, landed, now=now)
        self._writer.recorded(writes, landed)
        await asyncio.to_thread(self._decider.handled, len(records), now=now)

    async def _rewind_lost_partitions(self, consumer: AIOKafkaConsumer) -> None:
        """Between quiet fetches, look for partitions the broker lost under this router
        (the senders' re-submissions below a position of the old log would wait
        unseen); copies it vouched for may have gone with them."""
        if await self._loss_watch.look(consumer):
            self._inboxes.forget()

    def _count_settled(self, count: int) -> None:
        """Re-submissions of bytes every recipient has: handled, as retries, with nothing
        written (the sender's outbox stops once the recipients answer)."""
        self._stats.handled += count
        self._stats.retries += count
        metrics.record_submitted(count)
        log.debug("re-submissions already delivered", count=count)

    # --- offsets ------------------------------------------------------------------

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        try:
            with translate_errors("committing router offsets"):
                await consumer.commit(offsets)
        except BusError as error:
            if not isinstance(error.__cause__, _LOST_PARTITIONS):
                raise
            # The group rebalanced meanwhile: the partitions' new owner handles the
            # batch again, and the store keeps that from delivering anything twice.
            log.warning("offsets not committed: the group rebalanced", error=str(error))

    def _rewind(self, consumer: AIOKafkaConsumer, batch: _Batch) -> None:
        """After a failed batch, go back to its first records so it is handled again."""
        for tp, records in batch.items():
            if records and tp in consumer.assignment():
                consumer.seek(tp, records[0].offset)

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
        await self._writer.dead_letter_unreadable(
            UnreadableRecordError(tp.topic, tp.partition, position, cause)
        )
        consumer.seek(tp, position + 1)
        self._careful = None
        await self._commit(consumer, {tp: OffsetAndMetadata(position + 1, "")})

    async def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Publish how far behind edx.submit this router is, per partition."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(Exception):  # a partition revoked meanwhile
                position = await consumer.position(tp)
                metrics.set_consumer_lag("router", tp.topic, tp.partition, highwater - position)
