"""The tracker service (DESIGN.md §4): ``edx.events`` in, the tracker's SQL tables out.

It consumes ``edx.events`` in a consumer group and records each fetched batch with
:func:`bus.store.ingest`: history rows (hash-chained), documents, deliveries and the
consumer's position, all in one transaction. Why this shape:

- **Nothing lost, nothing counted twice.** The position that matters is the one in
  the database, written with the rows. On (re)assignment the tracker seeks to it;
  Kafka's committed offset is only advanced afterwards, as a courtesy to lag
  monitoring. A crash between the database commit and the Kafka commit re-reads
  records that ingest then skips.
- **The database may go away.** A :class:`~bus.errors.DatabaseUnavailableError`
  makes the tracker wait (exponential backoff) and retry the same batch, without
  committing any offset; it resumes where it stopped when the database answers.
- **A poisoned record never stalls it.** Records that do not decode go to the
  quarantine table with their coordinates; a batch the database refuses for another
  reason is retried record by record and the record it refuses is quarantined.
- **Names are a courtesy.** Agency names come from the directory on ``edx.agencies``
  when it can be read; levels and subtrees come from the codes themselves.

Run it with ``python -m bus.tracker`` or ``edx tracker run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition
from sqlalchemy import Engine

from bus._service import AsyncService
from bus.errors import BusError, DatabaseError, DatabaseUnavailableError
from bus.kafka import (
    LostPartitionWatch,
    background_fetch_wait_ms,
    gather_records,
    make_consumer,
    probe_features,
    translate_errors,
)
from bus.logs import get_logger
from bus.metrics import (
    EVENTS_QUARANTINED,
    clear_consumer_lag,
    record_tracker_event,
    time_processing,
    update_consumer_lag,
)
from bus.service_main import run_service_main
from bus.settings import Settings
from bus.start_backoff import start_with_backoff
from bus.store import (
    IncomingRecord,
    IngestResult,
    NameLookup,
    create_store_engine,
    ingest,
    redact,
    stored_positions,
    upgrade,
)
from bus.store.writes import quarantine_records

__all__ = ["Tracker", "TrackerOptions", "main", "run_tracker"]

log = get_logger(__name__)

_SERVICE = "tracker"


@dataclass(frozen=True)
class TrackerOptions:
    """How the tracker batches and how patiently it waits for its database."""

    batch_size: int = 1000
    poll_timeout_seconds: float = 0.5
    #: After the first records of a batch arrive, how long to go on gathering more
    #: before recording them (:func:`bus.kafka.gather_records`). Each batch is one
    #: transaction of about ten statements whatever its size; nothing waits on the
    #: tracker's rows to move a document on, so a tenth of a second later in
    #: ``edx status`` costs nobody.
    gather_seconds: float = 0.1
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 10.0
    lag_every_seconds: float = 5.0
    directory_every_seconds: float = 60.0
    use_directory: bool = True


@dataclass
class TrackerStats:
    """Counters of one tracker's life, for logs and tests."""

    batches: int = 0
    recorded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    database_retries: int = 0


class _SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, continue from the positions stored with the rows."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        clear_consumer_lag(_SERVICE)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self.tracker._seek_to_stored(assigned)


class Tracker(AsyncService):
    """The tracker as an async context manager: ``async with Tracker(settings) as t``.

    ``start()`` migrates the database (waiting while it is unreachable) and joins the
    consumer group; ``run(stop)`` records batches until ``stop`` is set; ``stop()``
    leaves the group and closes the database. No task outlives ``stop()``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        options: TrackerOptions | None = None,
        names: NameLookup | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self._consumer_options = dict(consumer_options or {})
        self.options = options or TrackerOptions()
        self.stats = TrackerStats()
        self._names = names
        self._engine: Engine | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._directory: Any = None
        self._last_lag = 0.0
        self._loss_watch = LostPartitionWatch(settings.topics.events)
        self._last_directory = 0.0
        self._stopping = asyncio.Event()

    # --- life cycle -------------------------------------------------------------

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Open and migrate the database, then join the consumer group."""
        url = self.settings.resolved_db_url
        self._engine = create_store_engine(url)
        try:
            await self._with_database_retry(lambda: upgrade(self._require_engine()), stop)
            # Known features set the group session (bus.kafka.group_timing): a
            # tracker restarted after a kill is back within seconds, not twenty.
            await probe_features(self.settings)
            consumer = make_consumer(
                self.settings,
                group_id=self.settings.groups.tracker,
                max_poll_records=self.options.batch_size,
                **{
                    "fetch_max_wait_ms": background_fetch_wait_ms(self.settings),
                    **self._consumer_options,
                },
            )
            consumer.subscribe([self.settings.topics.events], listener=_SeekToStoredPositions(self))
            # Set before start(): the group may assign partitions while it starts, and
            # the listener needs the consumer to seek.
            self._consumer = consumer
            with translate_errors("starting the tracker's consumer"):
                await consumer.start()
            # The group is joined in the background meanwhile: reading the directory
            # now, not before, keeps it off the time a restarted tracker is away.
            if self._names is None and self.options.use_directory:
                await self._start_directory()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "tracker started",
            database=redact(url),
            topic=self.settings.topics.events,
            group=self.settings.groups.tracker,
        )

    async def start_when_ready(self, stop: asyncio.Event) -> bool:
        """Start, waiting with backoff while the broker or the database cannot be reached
        (``False`` when ``stop`` was set first), instead of exiting."""

        async def attempt() -> None:
            self._stopping.clear()  # a failed attempt stopped everything it opened
            await self.start(stop)

        return await start_with_backoff("tracker", attempt, stop)

    async def stop(self) -> None:
        """Leave the group, stop following the directory, close the database."""
        self._stopping.set()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        directory, self._directory = self._directory, None
        if directory is not None:
            with contextlib.suppress(Exception):
                await directory.stop()
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
        clear_consumer_lag(_SERVICE)

    # --- the loop ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Record batches until ``stop`` is set (or :meth:`stop` is called)."""
        stop = stop or asyncio.Event()
        while not (stop.is_set() or self._stopping.is_set()):
            if not await self.step(stop):
                await asyncio.sleep(0)

    async def step(self, stop: asyncio.Event | None = None) -> bool:
        """Fetch and record one batch; ``False`` when nothing came within the poll timeout."""
        consumer = self._require_consumer()
        with translate_errors("reading edx.events"):
            fetched = await gather_records(
                consumer,
                poll_ms=int(self.options.poll_timeout_seconds * 1000),
                max_records=self.options.batch_size,
                gather_seconds=self.options.gather_seconds,
                stop=stop,
            )
        records = [
            IncomingRecord(tp.topic, tp.partition, message.offset, message.key, message.value)
            for tp, messages in fetched.items()
            for message in messages
        ]
        await self._housekeeping()
        if not records:
            # Tansu leaves a position of a lost log waiting: read such partitions
            # again from the start, the history keeps each event_id once.
            await self._loss_watch.look(consumer)
            return False
        with time_processing(_SERVICE):
            recorded = await self._record(records, stop)
        if not recorded:
            return True  # stopped while the database was away: nothing committed
        ends = {tp: messages[-1].offset + 1 for tp, messages in fetched.items() if messages}
        try:
            with translate_errors("committing tracker offsets"):
                await consumer.commit(ends)
        except BusError as error:
            # The database holds the true position; a lost commit costs a re-read only.
            log.warning(
                "offset commit failed; positions are safe in the database", error=str(error)
            )
        return True

    async def _record(self, records: list[IncomingRecord], stop: asyncio.Event | None) -> bool:
        """Ingest one batch, waiting out database outages. ``False`` if stopped first."""
        engine = self._require_engine()
        names = self._name_lookup()
        group = self.settings.groups.tracker
        try:
            result = await self._with_database_retry(
                lambda: ingest(engine, records, group=group, names=names), stop
            )
        except DatabaseUnavailableError:
            return False
        except DatabaseError as error:
            result = await self._record_one_by_one(records, error, stop)
            if result is None:
                return False
        self._count(result)
        return True

    async def _record_one_by_one(
        self, records: list[IncomingRecord], error: DatabaseError, stop: asyncio.Event | None
    ) -> IngestResult | None:
        log.warning(
            "the database refused a batch; recording it record by record",
            error=str(error),
            records=len(records),
        )
        engine = self._require_engine()
        names = self._name_lookup()
        group = self.settings.groups.tracker
        total = IngestResult()
        for record in records:
            try:
                result = await self._with_database_retry(
                    lambda r=record: ingest(engine, [r], group=group, names=names), stop
                )
            except DatabaseUnavailableError:
                return None
            except DatabaseError as refused:
                log.error(
                    "record refused by the database; quarantined",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=str(refused),
                )
                try:
                    result = await self._with_database_retry(
                        lambda r=record, e=refused: quarantine_records(engine, [r], e, group=group),
                        stop,
                    )
                except DatabaseUnavailableError:
                    return None
            total = IngestResult(
                recorded=total.recorded + result.recorded,
                duplicates=total.duplicates + result.duplicates,
                quarantined=total.quarantined + result.quarantined,
            )
        return total

    async def _with_database_retry(self, call: Any, stop: asyncio.Event | None) -> Any:
        """Run ``call`` in a thread; while the database is unreachable, wait and retry.

        Gives up (re-raising :class:`DatabaseUnavailableError`) only when asked to stop.
        """
        delay = self.options.retry_initial_seconds
        while True:
            try:
                return await asyncio.to_thread(call)
            except DatabaseUnavailableError as error:
                self.stats.database_retries += 1
                log.warning(
                    "database unreachable; waiting before retrying",
                    error=str(error),
                    retry_in=round(delay, 2),
                )
                if await _wait_or_stopped(delay, stop, self._stopping):
                    raise
                delay = min(delay * 2, self.options.retry_max_seconds)

    def _count(self, result: IngestResult) -> None:
        self.stats.batches += 1
        self.stats.recorded += result.recorded
        self.stats.duplicates += result.duplicates
        self.stats.quarantined += result.quarantined
        for kind, count in result.by_kind.items():
            record_tracker_event(kind, count)
        if result.quarantined:
            EVENTS_QUARANTINED.inc(result.quarantined)

    # --- positions, names, lag ----------------------------------------------------

    async def _seek_to_stored(self, assigned: Sequence[TopicPartition]) -> None:
        consumer = self._consumer
        engine = self._engine
        if consumer is None or engine is None or not assigned:
            return
        topic = self.settings.topics.events
        try:
            positions = await asyncio.to_thread(
                stored_positions, engine, self.settings.groups.tracker, topic
            )
        except DatabaseError as error:
            # Resuming from Kafka's committed offsets is safe too: ingest skips
            # records below the stored position once the database is back.
            log.warning(
                "stored positions unreadable; resuming from committed offsets", error=str(error)
            )
            return
        for tp in assigned:
            if tp.topic == topic and tp.partition in positions:
                consumer.seek(tp, positions[tp.partition])

    async def _start_directory(self) -> None:
        from bus.directory import DirectoryFollower

        follower = DirectoryFollower(self.settings)
        try:
            await follower.start()
        except BusError as error:
            log.warning(
                "agency directory unreadable; names will be filled in later", error=str(error)
            )
            await follower.stop()
            return
        self._directory = follower
        self._last_directory = time.monotonic()

    def _name_lookup(self) -> NameLookup | None:
        if self._names is not None:
            return self._names
        follower = self._directory
        if follower is None:
            return None

        def lookup(code: str) -> str | None:
            agency = follower.directory.get(code)
            return None if agency is None else str(agency.name)

        return lookup

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        consumer = self._consumer
        if consumer is not None and now - self._last_lag >= self.options.lag_every_seconds:
            self._last_lag = now
            with contextlib.suppress(Exception):
                await update_consumer_lag(consumer, _SERVICE)
        if (
            self._directory is not None
            and now - self._last_directory >= self.options.directory_every_seconds
        ):
            self._last_directory = now
            try:
                await self._directory.refresh()
            except BusError as error:
                log.warning("agency directory refresh failed", error=str(error))

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise DatabaseError("the tracker is not started")
        return self._engine

    def _require_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise BusError("the tracker is not started")
        return self._consumer


async def _wait_or_stopped(delay: float, *events: asyncio.Event | None) -> bool:
    """Sleep ``delay`` seconds; ``True`` at once if any of ``events`` is (or gets) set."""
    watched = [e for e in events if e is not None]
    if any(e.is_set() for e in watched):
        return True
    waiters = [asyncio.create_task(e.wait()) for e in watched]
    try:
        done, _ = await asyncio.wait(waiters, timeout=delay)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return bool(done)


async def run_tracker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    options: TrackerOptions | None = None,
) -> None:
    """Run one tracker until ``stop`` is set (the service entry of ``edx tracker run``)."""
    tracker = Tracker(settings, options=options)
    stop = stop or asyncio.Event()
    try:
        if not await tracker.start_when_ready(stop):
            return  # asked to stop while waiting for the broker or the database
        await tracker.run(stop)
    finally:
        await tracker.stop()
        log.info(
            "tracker stopped",
            recorded=tracker.stats.recorded,
            quarantined=tracker.stats.quarantined,
        )


def main() -> None:
    """``python -m bus.tracker``: run until SIGINT or SIGTERM."""
    run_service_main("tracker", lambda settings, stop: run_tracker(settings, stop=stop))
