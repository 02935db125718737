"""The router (DESIGN.md §4): ``edx.submit`` -> recipients' inboxes, events, dead letters.

For each submitted record the router verifies and parses the package
(:mod:`bus._router_check`), decides against its acceptance store whether it is
new, a retry or a replay (:mod:`bus.acceptance`), then writes the *unchanged
bytes* to each recipient's ``edx.inbox.<code>`` that does not have them yet and
emits the lifecycle events. A refused package goes to ``edx.deadletter`` with
reason headers, a REJECTED event, and a rejection notice in the claimed sender's
inbox, so the sender learns why even though it may read nothing but its inbox.

Status packages: a status (01-16) is routed to the document's original sender
and only from one of the document's recipients; a take-back (13) only from the
original sender, to every recipient. Revocations, updates and replacements are
documents with DocumentIds of their own and are routed like any other.

Delivery is at-least-once with idempotent effects: offsets are committed only
after every inbox, event and dead-letter write of the batch is acknowledged and
the acknowledged deliveries are recorded; a crash in between means the batch is
handled again, and the store keeps recipients from getting a copy twice (unless
the crash fell between the acknowledgement and its recording, which receivers
absorb by deduplicating on the document id). Routers scale by running more of
them in one consumer group; their stores must then be one database.

Run it with ``python -m bus.router`` (or ``edx router run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka import errors as kafka_errors
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from bus import metrics
from bus._router_check import CheckedPackage, PackageChecker
from bus._router_records import (
    REJECTION_KIND,
    Source,
    delivered_event,
    package_headers,
    rejected_event,
    rejection_headers,
    status_event,
    submitted_event,
)
from bus.acceptance import (
    AcceptanceSession,
    AcceptanceStore,
    Accepted,
    Delivery,
    status_key,
)
from bus.directory import DirectoryFollower
from bus.errors import BusError, InactiveAgencyError, UnauthorizedStatusError, UnknownAgencyError
from bus.events import LIFECYCLE_EVENT
from bus.kafka import make_consumer, make_producer, probe_features, translate_errors
from bus.logs import configure_logging, get_logger, log_context
from bus.records import Header, content_digest, decode_headers
from bus.settings import Settings, load_settings
from bus.topics import ensure_inbox, ensure_topics
from edxml import DocumentPackage, StatusCode, StatusPackage
from edxml.errors import EdxbusError
from signing import TrustStore, VerificationPolicy, Verifier

__all__ = ["Router", "RouterStats", "main", "make_verifier", "run_router"]

log = get_logger(__name__)
_T = TypeVar("_T")
_DIRECTORY_REFUSALS = (UnknownAgencyError, InactiveAgencyError)
#: Commit failures meaning "these partitions are someone else's now".
_LOST_PARTITIONS = (
    kafka_errors.CommitFailedError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.UnknownMemberIdError,
)
#: Worker threads checking one batch: one per core (signxml holds the GIL for much
#: of a verification, so more threads only take turns).
_CHECK_THREADS = max(1, min(4, os.cpu_count() or 1))

#: Records handled per batch at most (one commit per batch).
MAX_BATCH = 200
#: Longest wait after a retriable failure before the batch is tried again.
MAX_BACKOFF_SECONDS = 30.0
#: The router prunes its store once per this many accepted packages.
_PRUNE_EVERY = 10_000


@dataclass
class RouterStats:
    """Counts since the router started (for tests, benchmarks and the log)."""

    handled: int = 0
    delivered: int = 0
    rejected: int = 0
    retries: int = 0
    #: Batches that failed on something retriable (broker, database) and were rewound.
    failed_batches: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    """The writes of one batch: sent, then awaited together, then recorded."""

    sends: list[asyncio.Future[Any]] = field(default_factory=list)
    deliveries: list[tuple[Delivery, asyncio.Future[Any]]] = field(default_factory=list)
    planned: set[tuple[str, str, str]] = field(default_factory=set)

    def acknowledged(self) -> list[Delivery]:
        """The deliveries with where they landed (call after every send is acked)."""
        landed = []
        for delivery, future in self.deliveries:
            metadata = future.result()
            landed.append(replace(delivery, partition=metadata.partition, offset=metadata.offset))
        return landed


def make_verifier(settings: Settings) -> Verifier:
    """The verifier of ``settings``: trust anchors of ``resolved_trust`` plus the CRL."""
    crl = settings.resolved_crl
    trust = TrustStore.from_directory(settings.resolved_trust, [crl] if crl else [])
    return Verifier(trust, VerificationPolicy())


class Router:
    """One router: an async context manager around the consume-check-route loop.

    ``verifier`` defaults to the trust store of ``settings``; ``group_id`` to
    ``settings.router_group``; ``consumer_options`` go to the aiokafka consumer
    (session timeouts and the like). Use :meth:`run` (until ``stop`` is set) or
    :meth:`route_available` (tests, tools) inside ``async with``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        verifier: Verifier | None = None,
        group_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id or settings.router_group
        self._consumer_options = dict(consumer_options or {})
        self.stats = RouterStats()
        self._verifier = verifier
        self._checker: PackageChecker | None = None
        self._store = AcceptanceStore(settings.resolved_router_db_url)
        self._follower = DirectoryFollower(settings, follow=True)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._probe: AIOKafkaConsumer | None = None  # reads inbox copies on retries
        self._since_prune = 0
        self._inboxes: set[str] = set()

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, create missing topics, load the directory, join the group."""
        verifier = self._verifier
        if verifier is None:
            verifier = await asyncio.to_thread(make_verifier, self.settings)
        self._checker = PackageChecker(
            verifier,
            max_package_bytes=self.settings.max_package_bytes,
            agency_pattern=self.settings.agency_pattern,
        )
        await asyncio.to_thread(self._store.open)
        try:
            await ensure_topics(self.settings)
            await probe_features(self.settings)
            await self._follower.start()
            self._producer = make_producer(self.settings)
            with translate_errors("starting the router's producer"):
                await self._producer.start()
            self._consumer = make_consumer(
                self.settings,
                self.settings.topics.submit,
                group_id=self.group_id,
                max_poll_records=MAX_BATCH,
                **self._consumer_options,
            )
            with translate_errors("joining the router group"):
                await self._consumer.start()
            self._probe = make_consumer(self.settings, group_id=None, max_poll_records=1)
            with translate_errors("starting the router's inbox reader"):
                await self._probe.start()
        except BaseException:
            await self.stop()
            raise
        await asyncio.to_thread(self._store.prune, now=datetime.now(UTC))
        log.info("router started", group=self.group_id, topic=self.settings.topics.submit)

    async def stop(self) -> None:
        """Leave the group and close everything. Idempotent."""
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        probe, self._probe = self._probe, None
        for reader in (consumer, probe):
            if reader is not None:
                with contextlib.suppress(Exception):
                    await reader.stop()
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
        await self._follower.stop()
        await asyncio.to_thread(self._store.close)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The ``edx.submit`` partitions this router holds in its group right now."""
        consumer = self._consumer
        return frozenset(consumer.assignment()) if consumer is not None else frozenset()

    # --- the loop ----------------------------------------------------------------

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
                log.warning("router will retry the batch", error=str(error), wait=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def route_available(self, *, timeout_ms: int = 1000) -> int:
        """Fetch one batch (waiting up to ``timeout_ms``), route it, commit. Returns its size."""
        consumer = self._require(self._consumer)
        with translate_errors("reading edx.submit"):
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=MAX_BATCH)
        records = [r for partition in batch.values() for r in partition]
        if not records:
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

    async def _route_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        # The checks (signature, parse, directory) need no memory of other packages:
        # run them side by side on the worker threads; decide and route in order.
        outcomes = await self._check_all(records)
        stale = [i for i, o in enumerate(outcomes) if isinstance(o, _DIRECTORY_REFUSALS)]
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
        await asyncio.to_thread(self._store.mark_delivered, work.acknowledged(), now=now)
        self.stats.delivered += len(work.deliveries)
        metrics.record_delivered(len(work.deliveries))
        self._since_prune += len(records)
        if self._since_prune >= _PRUNE_EVERY:
            self._since_prune = 0
            await asyncio.to_thread(self._store.prune, now=now)

    async def _check_all(
        self, records: Sequence[ConsumerRecord[Any, Any]]
    ) -> list[CheckedPackage | EdxbusError]:
        """Check a batch on one worker thread per core, each taking a contiguous share."""
        share = -(-len(records) // _CHECK_THREADS)
        chunks = [records[i : i + share] for i in range(0, len(records), share)]
        results = await asyncio.gather(
            *(asyncio.to_thread(self._check_chunk, chunk) for chunk in chunks)
        )
        return [outcome for chunk in results for outcome in chunk]

    def _check_chunk(
        self, records: Sequence[ConsumerRecord[Any, Any]]
    ) -> list[CheckedPackage | EdxbusError]:
        return [self._check_now(record) for record in records]

    async def _check(self, record: ConsumerRecord[Any, Any]) -> CheckedPackage | EdxbusError:
        """The package checked, or the named error that refuses it."""
        return await asyncio.to_thread(self._check_now, record)

    def _check_now(self, record: ConsumerRecord[Any, Any]) -> CheckedPackage | EdxbusError:
        checker = self._require(self._checker)
        try:
            return checker.check(record.value, self._follower.directory)
        except BusError as error:
            if error.retriable:
                raise
            return error
        except EdxbusError as error:
            return error

    def _decide_all(
        self, outcomes: Sequence[CheckedPackage | EdxbusError]
    ) -> list[Accepted | EdxbusError | None]:
        """Accept (or refuse) each checked package against the store, in order."""
        decisions: list[Accepted | EdxbusError | None] = []
        now = datetime.now(UTC)
        with self._store.session() as session:
            for outcome in outcomes:
                if not isinstance(outcome, CheckedPackage):
                    decisions.append(None)
                    continue
                try:
                    decisions.append(self._decide(session, outcome, now))
                except BusError as error:
                    if error.retriable:
                        raise
                    decisions.append(error)
                except EdxbusError as error:
                    decisions.append(error)
        return decisions

    def _decide(
        self, session: AcceptanceSession, checked: CheckedPackage, now: datetime
    ) -> Accepted:
        package = checked.package
        if isinstance(package, StatusPackage):
            targets = self._status_targets(session, package)
            key = status_key(checked.digest)
        else:
            targets = package.recipient_codes
            key = package.document_id
        return session.accept(checked.sender, key, checked.digest, targets, now=now)

    async def _route_record(
        self,
        record: ConsumerRecord[Any, Any],
        outcome: CheckedPackage | EdxbusError,
        decision: Accepted | EdxbusError | None,
        work: _Batch,
    ) -> None:
        self.stats.handled += 1
        metrics.record_submitted()
        source = Source(record.topic, record.partition, record.offset)
        headers = decode_headers(record.headers)
        claimed_sender = _claimed_sender(record.key, headers)
        claimed_document = headers.get(Header.DOCUMENT_ID, "")
        if isinstance(outcome, CheckedPackage):
            # Verified and parsed: the package itself says who sent it and about what.
            claimed_sender = outcome.sender
            claimed_document = outcome.package.document_id
        with log_context(document_id=claimed_document or None, agency=claimed_sender or None):
            try:
                if isinstance(outcome, EdxbusError):
                    raise outcome
                if isinstance(decision, EdxbusError):
                    raise decision
                assert decision is not None
                await self._route_checked(outcome, decision, source, work)
            except BusError as error:
                if error.retriable:
                    raise
                await self._reject(record, error, claimed_sender, claimed_document, source, work)
            except EdxbusError as error:
                await self._reject(record, error, claimed_sender, claimed_document, source, work)

    async def _route_checked(
        self, checked: CheckedPackage, accepted: Accepted, source: Source, work: _Batch
    ) -> None:
        package = checked.package
        now = datetime.now(UTC)
        key = accepted.key
        pending = [r for r in accepted.undelivered if (checked.sender, key, r) not in work.planned]
        if len(pending) < len(accepted.recipients):
            self.stats.retries += 1
            pending += await self._lost_copies(accepted, work)
        if isinstance(package, DocumentPackage):
            await self._emit(work, submitted_event(package, checked.digest, source, now))
        for recipient in pending:
            await self._deliver(checked, accepted, recipient, source, work)
            if isinstance(package, DocumentPackage):
                event = delivered_event(package, recipient, checked.digest, source, now)
            else:
                event = status_event(package, recipient, checked.digest, source, now)
                metrics.record_status(str(package.status_code.value))
            await self._emit(work, event)
        log.info(
            "routed",
            kind=package.kind,
            recipients=len(accepted.recipients),
            new_deliveries=len(pending),
        )

    def _status_targets(
        self, session: AcceptanceSession, package: StatusPackage
    ) -> tuple[str, ...]:
        """Who a status goes to, if its sender may send it (else UnauthorizedStatusError)."""
        answered = package.response_for
        reporter = package.sender_code
        if not answered.organ_id or not answered.document_id:
            raise UnauthorizedStatusError(
                reporter, answered.document_id or "(none)", "it names no document it answers"
            )
        original = session.lookup(answered.organ_id, answered.document_id)
        if original is None:
            raise UnauthorizedStatusError(
                reporter,
                answered.document_id,
                f"the bus has not routed that document from {answered.organ_id}",
            )
        directory = self._follower.directory
        if package.status_code is StatusCode.TAKE_BACK:
            if reporter != original.sender:
                raise UnauthorizedStatusError(
                    reporter, answered.document_id, "only the original sender may take it back"
                )
            for recipient in original.recipients:
                directory.require(recipient, "recipient")
            return original.recipients
        if reporter not in original.recipients:
            raise UnauthorizedStatusError(
                reporter, answered.document_id, "it was not a recipient of the document"
            )
        directory.require(original.sender, "recipient")
        return (original.sender,)

    async def _deliver(
        self,
        checked: CheckedPackage,
        accepted: Accepted,
        recipient: str,
        source: Source,
        work: _Batch,
    ) -> None:
        producer = self._require(self._producer)
        value = checked.raw  # unchanged: the signature must verify at every hop
        await self._ensure_inbox(recipient)
        with translate_errors(f"writing the inbox of {recipient}"):
            future = await producer.send(
                self.settings.topics.inbox(recipient),
                value,
                key=checked.sender.encode("utf-8"),
                headers=package_headers(checked.package, checked.sender, checked.digest, source),
            )
        work.sends.append(future)
        work.deliveries.append((Delivery(accepted.sender, accepted.key, recipient), future))
        work.planned.add((accepted.sender, accepted.key, recipient))

    async def _lost_copies(self, accepted: Accepted, work: _Batch) -> list[str]:
        """Recipients whose recorded copy is no longer in their inbox.

        A retry normally skips recipients that have the package. But a broker that
        lost its data (the embedded Tansu keeps memory only) no longer holds those
        copies, and may meanwhile hold other records at the same offsets: the copy
        counts as present only if the record at its recorded offset carries this
        package's digest. The sender's retry is then what brings a lost copy back.
        """
        lost = []
        for recipient, (partition, offset) in accepted.positions.items():
            if recipient not in accepted.delivered:
                continue
            if (accepted.sender, accepted.key, recipient) in work.planned:
                continue
            await self._ensure_inbox(recipient)
            tp = TopicPartition(self.settings.topics.inbox(recipient), partition)
            if not await self._copy_present(tp, offset, accepted.digest):
                lost.append(recipient)
        return lost

    async def _copy_present(self, tp: TopicPartition, offset: int, digest: str) -> bool:
        """Whether the record at ``offset`` of ``tp`` is the package with ``digest``."""
        probe = self._require(self._probe)
        with translate_errors("reading an inbox copy"):
            ends = await probe.end_offsets([tp])
            if ends.get(tp, 0) <= offset:
                return False
            probe.assign([tp])
            probe.seek(tp, offset)
            batch = await probe.getmany(tp, timeout_ms=5000, max_records=1)
        for record in batch.get(tp, []):
            if record.offset == offset:
                return decode_headers(record.headers).get(Header.DIGEST) == digest
        return False  # not readable now: writing it again is the safe side (receivers dedup)

    async def _ensure_inbox(self, agency: str) -> None:
        """Create an inbox once per router lifetime before writing to it.

        Registration creates inboxes, but a directory written by other tools may
        not have, and a producer would wait for a missing topic instead of failing.
        """
        if agency not in self._inboxes:
            await ensure_inbox(self.settings, agency)
            self._inboxes.add(agency)

    async def _emit(self, work: _Batch, event: dict[str, Any]) -> None:
        producer = self._require(self._producer)
        with translate_errors("writing an event"):
            future = await producer.send(
                self.settings.topics.events,
                LIFECYCLE_EVENT.encode(event),
                key=str(event["document_id"]).encode("utf-8"),
            )
        work.sends.append(future)

    async def _reject(
        self,
        record: ConsumerRecord[Any, Any],
        error: EdxbusError,
        claimed_sender: str,
        claimed_document: str,
        source: Source,
        work: _Batch,
    ) -> None:
        producer = self._require(self._producer)
        value: bytes = record.value or b""
        digest = content_digest(value)
        document_id = claimed_document or f"unidentified:{digest[:16]}"
        kind = record_kind(record)
        self.stats.rejected += 1
        self.stats.reasons[error.reason_code] = self.stats.reasons.get(error.reason_code, 0) + 1
        metrics.record_rejected(error.reason_code)
        log.warning("rejected", reason_code=error.reason_code, reason=str(error))

        def headers(kind: str | None) -> list[tuple[str, bytes]]:
            return rejection_headers(
                error,
                claimed_sender=claimed_sender,
                claimed_document_id=claimed_document,
                digest=digest,
                source=source,
                kind=kind,
            )

        key = claimed_sender.encode("utf-8") if claimed_sender else None
        with translate_errors("writing the dead-letter topic"):
            work.sends.append(
                await producer.send(
                    self.settings.topics.deadletter,
                    value,
                    key=key,
                    headers=headers(kind or None),
                )
            )
            if claimed_sender and self._follower.directory.get(claimed_sender) is not None:
                await self._ensure_inbox(claimed_sender)
                work.sends.append(
                    await producer.send(
                        self.settings.topics.inbox(claimed_sender),
                        value,
                        key=key,
                        headers=headers(REJECTION_KIND),
                    )
                )
        event = rejected_event(
            error,
            claimed_sender=claimed_sender,
            claimed_document_id=document_id,
            package_kind=kind.upper() if kind in {"document", "status"} else "UNKNOWN",
            digest=digest,
            source=source,
            at=datetime.now(UTC),
        )
        await self._emit(work, event)

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise BusError("the router is not started")
        return value


def record_kind(record: ConsumerRecord[Any, Any]) -> str:
    """The ``edx-kind`` header a submitter put on a record ('' when absent)."""
    return decode_headers(record.headers).get(Header.KIND, "")


def _claimed_sender(key: bytes | None, headers: dict[str, str]) -> str:
    if key:
        return key.decode("utf-8", "replace")
    return headers.get(Header.SENDER, "")


async def run_router(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run one router until ``stop`` is set (or forever)."""
    server = metrics.start_metrics_server(settings)
    try:
        async with Router(settings) as router:
            await router.run(stop)
    finally:
        if server is not None:
            server.stop()


def main(argv: Iterable[str] | None = None) -> None:
    """``python -m bus.router``: settings from the environment, stop on SIGINT/SIGTERM."""
    del argv
    settings = load_settings()
    configure_logging(settings)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await run_router(settings, stop=stop)

    try:
        asyncio.run(serve())
    except EdxbusError as error:
        log.error("router stopped: %s [%s]", error, error.reason_code)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
