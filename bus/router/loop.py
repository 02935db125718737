"""The router's loop: fetch -> check -> decide -> write -> commit, batches pipelined.

Each batch of ``edx.submit`` goes through these steps:

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

Steps 1-3 are a batch's *read*, step 4 and the sends of step 5 its *send*,
awaiting its acknowledgements, recording them and committing its *back*.
:meth:`RouteLoop.route_available` runs one batch's steps one after the other
(tests, tools). :meth:`RouteLoop.run` pipelines them: while one batch is decided
and sent, the next is fetched and checked (on the worker processes), and the
backs of up to :data:`PIPELINE_DEPTH` batches before it wait on the broker and
the store. The broker hands back about one producer batch per fetch (one or a
few records when senders publish single records), so without this each few
records would pay their round trips one after the other.
Why the guarantees are those of one batch at a time:

- *Order per partition, hence per sender*: sends run one batch at a time in
  fetch order (reading ahead only checks: nothing is decided or written), so a
  partition's records are decided and their writes handed to the one producer
  in offset order, exactly as within one batch; the producer keeps
  the order of sends per target partition whether or not earlier sends are
  acknowledged yet (it already has a whole batch in flight at once).
- *At-least-once*: backs run in batch order: a batch's back awaits its own
  acknowledgements, then the previous batch's back, and only then records its
  copies and commits, so an offset is committed only once every write of every
  record up to it is acknowledged and recorded, and commits never go backwards.
- *No copy written twice*: a batch may be decided before an earlier batch's copies
  are recorded in the store; the copies that earlier batches in flight are
  writing count as planned (:class:`bus.router.writer.BatchWrites` ``earlier``),
  so they are not written again, and a batch that relies on them can succeed
  only if those batches did (their backs come first).
- *Failure*: when any stage of any batch fails, every batch not committed is
  abandoned, the one read ahead included (its sends may still land:
  at-least-once, and the store and the receivers keep one copy), and each
  partition is rewound to the first record not committed, so the next attempt
  handles them again in order. A corrupt batch is stepped past (a commit of its
  own) only after the backs before it are done, so commits never go back; the
  broker's lost partitions are looked for only when no batch is pending.
- *Store*: every store call of the router runs on the decider's one store
  thread, in the order it was made, so the transactions of overlapping batches
  never contend with each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord
from aiokafka import errors as kafka_errors
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from bus import metrics
from bus.errors import BrokerError, BusError, UnreadableRecordError
from bus.kafka import LostPartitionWatch, make_consumer, translate_errors
from bus.logs import get_logger
from bus.router.checker import BatchChecker, CheckedPackage, Refused
from bus.router.decider import Decider
from bus.router.inboxes import Inboxes
from bus.router.stats import RouterStats
from bus.router.writer import BatchWrites, Writer
from bus.settings import Settings

__all__ = ["MAX_BACKOFF_SECONDS", "MAX_BATCH", "PIPELINE_DEPTH", "RouteLoop"]

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
#: Batches whose acknowledgements, recording and commit may be pending while the
#: next is fetched and routed (:meth:`RouteLoop.run`).
PIPELINE_DEPTH = 8

_Batch = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


@dataclass
class _Flight:
    """One batch between its read and its back (acknowledged, recorded, committed)."""

    batch: _Batch
    #: The sends of the records routed (``None``: every record was settled by digest).
    writes: BatchWrites | None
    #: How many records were routed (not settled by digest).
    routed: int
    back: asyncio.Task[None] | None = None
    committed: bool = False

    @property
    def size(self) -> int:
        return sum(len(rs) for rs in self.batch.values())

    @property
    def pending(self) -> asyncio.Task[None]:
        """The back (set as soon as the batch is sent)."""
        assert self.back is not None
        return self.back

    def first_offsets(self) -> dict[TopicPartition, int]:
        """The batch's first offset on each of its partitions."""
        return {tp: rs[0].offset for tp, rs in self.batch.items() if rs}

    def next_offsets(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """Where the batch's partitions resume once it is committed."""
        return {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in self.batch.items() if rs}


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


@dataclass
class _Read:
    """A batch fetched and checked, not yet decided: the records still to route
    (settled re-submissions set aside) and their outcomes, in batch order."""

    flight: _Flight
    records: list[ConsumerRecord[Any, Any]]
    outcomes: list[CheckedPackage | Refused]


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
        """Route until ``stop`` is set, batches pipelined (see the module's docstring).
        Retriable failures back off and retry from the first record not committed."""
        stop = stop or asyncio.Event()
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._pipeline(stop)
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
        consumer = self._started()
        fetched = await self._fetch(consumer, timeout_ms, quiet=True)
        if isinstance(fetched, BrokerError):
            await self._step_past_corruption(consumer, fetched)
            return 0
        if fetched is None:
            return 0
        read = await self._read(consumer, fetched)
        flight = read.flight
        try:
            await self._send(read, ())
            await self._back(consumer, flight, previous=None)
        except BaseException:
            if self._consumer is consumer:  # not stopped meanwhile
                self._rewind(consumer, [flight])
            raise
        return flight.size

    async def _pipeline(self, stop: asyncio.Event) -> None:
        """Batches in three overlapping stages (see the module's docstring).

        While one batch is decided and sent, the next is fetched and checked
        (``ahead``), and the backs of up to :data:`PIPELINE_DEPTH` batches before
        it wait on the broker and the store. Returns when ``stop`` is set and every
        batch sent is committed; a failure of any batch abandons every batch not
        committed, rewinds each partition to the first of their records and is raised.
        """
        consumer = self._started()
        flights: deque[_Flight] = deque()
        ahead: asyncio.Future[_Read | BrokerError | None] | None = None
        current: _Flight | None = None
        try:
            while not stop.is_set():
                while flights and flights[0].pending.done():
                    await flights[0].pending  # raises what the back raised: rewound then
                    flights.popleft()
                if len(flights) >= PIPELINE_DEPTH:
                    await asyncio.wait([flights[0].pending])
                    continue
                if ahead is None:
                    # Waiting for records while backs are pending delays no commit
                    # (they run as tasks), only the notice of a failure: briefly then.
                    ahead = asyncio.ensure_future(
                        self._read_ahead(consumer, 50 if flights else 500, quiet=not flights)
                    )
                read, ahead = await ahead, None
                if read is None:
                    continue
                if isinstance(read, BrokerError):
                    # Stepping past commits on its own: the batches before go first,
                    # so commits never go back.
                    await _all_backs(flights)
                    await self._step_past_corruption(consumer, read)
                    continue
                current = read.flight
                # The next batch is fetched and checked while this one is decided and sent.
                ahead = asyncio.ensure_future(self._read_ahead(consumer, 50, quiet=False))
                await self._send(read, [f.writes.planned for f in flights if f.writes])
                previous = flights[-1].pending if flights else None
                current.back = asyncio.ensure_future(self._back(consumer, current, previous))
                flights.append(current)
                current = None
            abandoned = await _abandon(ahead)
            ahead = None
            if abandoned is not None and self._consumer is consumer:
                self._rewind(consumer, [abandoned])
            while flights:
                await flights[0].pending
                flights.popleft()
        except BaseException:
            # The batch read ahead first (it rewinds its own batch if it fails), then
            # every batch not committed, each partition to the first of their records.
            unfinished = [f for f in flights if not f.committed]
            abandoned = await _abandon(ahead)
            for flight in flights:
                flight.pending.cancel()
            await asyncio.gather(*(f.pending for f in flights), return_exceptions=True)
            unfinished += [f for f in (current, abandoned) if f is not None]
            if self._consumer is consumer:  # not stopped meanwhile
                self._rewind(consumer, unfinished)
            raise

    async def _fetch(
        self, consumer: AIOKafkaConsumer, timeout_ms: int, *, quiet: bool
    ) -> _Batch | BrokerError | None:
        """One fetch of ``edx.submit``: its records, a corrupt batch met (to step past
        by the caller), or None when nothing came. ``quiet``: no batch is pending,
        so a fetch that brings nothing may look for partitions the broker lost."""
        careful = self._careful
        try:
            with translate_errors("reading edx.submit"):
                batch = await consumer.getmany(
                    timeout_ms=timeout_ms, max_records=1 if careful else MAX_BATCH
                )
        except BrokerError as error:
            if not isinstance(error.__cause__, kafka_errors.CorruptRecordException):
                raise
            return error
        if careful is not None and batch.get(careful[0]):
            self._careful = None  # the partition reads again
        batch = {tp: rs for tp, rs in batch.items() if rs}
        if not batch:
            if quiet:  # a partition sent back under pending commits: when quiet only
                await self._rewind_lost_partitions(consumer)
            return None
        return batch

    async def _read_ahead(
        self, consumer: AIOKafkaConsumer, timeout_ms: int, *, quiet: bool
    ) -> _Read | BrokerError | None:
        """:meth:`_fetch` then :meth:`_read` (which rewinds its batch if it fails)."""
        fetched = await self._fetch(consumer, timeout_ms, quiet=quiet)
        if fetched is None or isinstance(fetched, BrokerError):
            return fetched
        return await self._read(consumer, fetched)

    async def _read(self, consumer: AIOKafkaConsumer, batch: _Batch) -> _Read:
        """Set aside the batch's settled re-submissions and check the rest; a failure
        (or cancellation) rewinds the batch."""
        flight = _Flight(batch, None, 0)
        try:
            records = [r for partition in batch.values() for r in partition]
            # Re-submissions every recipient already has: settled by digest, unchecked.
            settled = await self._decider.settled([r.value for r in records])
            records = [r for r, done in zip(records, settled, strict=True) if not done]
            if len(records) < len(settled):
                self._count_settled(len(settled) - len(records))
            # Check: signature, parse and directory, side by side.
            outcomes = await self._checker.check([r.value for r in records]) if records else []
        except BaseException:
            if self._consumer is consumer:  # not stopped meanwhile
                self._rewind(consumer, [flight])
            raise
        return _Read(flight, records, outcomes)

    async def _send(self, read: _Read, earlier: Sequence[set[tuple[str, str, str]]]) -> None:
        """Decide the checked records in order and send what each becomes (its writes
        are awaited by the batch's back). ``earlier``: copies planned by batches in flight."""
        if not read.records:
            return
        with metrics.time_processing("router"):
            # Decide: retry, replay or new, and who gets it; in order, in one transaction.
            decisions = await self._decider.decide(read.outcomes)
            # Write: every record's sends, awaited together by the batch's back.
            writes = BatchWrites(earlier=tuple(earlier))
            for record, outcome, decision in zip(
                read.records, read.outcomes, decisions, strict=True
            ):
                await self._writer.route(record, outcome, decision, writes)
        read.flight.writes = writes
        read.flight.routed = len(read.records)

    async def _back(
        self, consumer: AIOKafkaConsumer, flight: _Flight, previous: asyncio.Task[None] | None
    ) -> None:
        """Await the batch's acknowledgements, then the batch before it, then record
        the copies and commit: only now may its offsets be committed."""
        writes = flight.writes
        landed = await self._writer.flush(writes) if writes is not None else []
        if previous is not None:
            await previous  # its failure is this batch's too: it relied on those writes
        if writes is not None:
            now = datetime.now(UTC)
            # The acknowledged copies and the handled count, in one hop to the store.
            await self._decider.record(landed, flight.routed, now=now)
            self._writer.recorded(writes, landed)
        await self._commit(consumer, flight.next_offsets())
        flight.committed = True
        self._stats.committed += flight.size
        await self._report_lag(consumer)

    def _started(self) -> AIOKafkaConsumer:
        """The group consumer (BusError when the loop is not started)."""
        consumer = self._consumer
        if consumer is None:
            raise BusError("the router is not started")
        return consumer

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

    def _rewind(self, consumer: AIOKafkaConsumer, flights: Sequence[_Flight]) -> None:
        """After a failure, go back to the first record not committed of each partition
        (of the batches given, in flight) so they are handled again, in order."""
        first: dict[TopicPartition, int] = {}
        for flight in flights:
            for tp, offset in flight.first_offsets().items():
                first[tp] = min(offset, first.get(tp, offset))
        assignment = consumer.assignment()
        for tp, offset in first.items():
            if tp in assignment:
                consumer.seek(tp, offset)

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


async def _abandon(ahead: asyncio.Future[_Read | BrokerError | None] | None) -> _Flight | None:
    """Stop a read ahead; the batch it had read (to rewind), if it had finished."""
    if ahead is None:
        return None
    ahead.cancel()
    with contextlib.suppress(BaseException):  # cancelled or failed: it rewound its batch
        read = await ahead
        return read.flight if isinstance(read, _Read) else None
    return None


async def _all_backs(flights: Sequence[_Flight]) -> None:
    """Wait until the backs of ``flights`` are done (a failure is raised)."""
    for flight in flights:
        await flight.pending
