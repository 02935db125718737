"""Write: what each record of a batch becomes on the broker, sent without waiting.

An accepted package goes unchanged (its signature must verify at every hop) to
every recipient that lacks it (a retry also checks that recorded copies are
still in their inboxes), with its lifecycle events; a refused one goes to
``edx.deadletter`` (without its body when the body cannot be written there)
with a REJECTED event, and a rejection notice goes to the inbox of the agency
that verifiably signed it, if any.

Every send of a batch is collected in a :class:`BatchWrites` and awaited
together (:meth:`Writer.flush`): one round trip per batch, not per record. The
writer is the router's only producer, so everything the router says to the world
leaves through here; what is written is built by :mod:`bus.router.records`, and
every lifecycle event is encoded at one place (:meth:`Writer._emit`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, ConsumerRecord

from bus import metrics
from bus.acceptance import Accepted, Delivery
from bus.directory import AgencyDirectory
from bus.errors import BusError, UnreadableRecordError
from bus.kafka import make_producer, translate_errors
from bus.lifecycle import LifecycleEvent, PackageKind, encode_event
from bus.logs import get_logger, log_context
from bus.records import Header, content_digest, decode_headers
from bus.router.checker import CheckedPackage, Refused
from bus.router.decider import Decision
from bus.router.records import (
    REJECTION_KIND,
    Source,
    delivered_event,
    package_headers,
    rejected_event,
    rejection_headers,
    status_event,
    submitted_event,
)
from bus.router.stats import RouterStats
from bus.settings import Settings
from edxml import DocumentPackage
from edxml.errors import EdxbusError

__all__ = ["BatchWrites", "InboxTopics", "Writer", "record_kind"]

#: The router's log lines keep the router's logger name wherever they are written.
log = get_logger("bus.router")
#: Longest sender code or DocumentId taken from an unverified record's key or headers
#: (real ones are a few dozen characters).
_CLAIM_CHARS = 256
#: The ``edx-kind`` a refused record claimed, as the kind of its REJECTED event.
_PACKAGE_KINDS = {"document": PackageKind.DOCUMENT, "status": PackageKind.STATUS}


@dataclass
class BatchWrites:
    """The writes of one batch: sent, then awaited together, then recorded."""

    sends: list[asyncio.Future[Any]] = field(default_factory=list)
    deliveries: list[tuple[Delivery, asyncio.Future[Any]]] = field(default_factory=list)
    #: (sender, key, recipient) of every copy sent in this batch.
    planned: set[tuple[str, str, str]] = field(default_factory=set)
    #: (sender, key) -> content digest of the packages delivered in this batch.
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    #: The copies planned by the batches before this one whose writes are not yet
    #: recorded in the store (a pipelined router): planned here too, since this
    #: batch is committed only if they are (:mod:`bus.router.loop`). Their sets,
    #: not the batches, so no batch keeps the ones before it alive.
    earlier: tuple[set[tuple[str, str, str]], ...] = ()

    def is_planned(self, sender: str, key: str, recipient: str) -> bool:
        """Whether this batch, or one before it in flight, writes this copy."""
        copy = (sender, key, recipient)
        return copy in self.planned or any(copy in planned for planned in self.earlier)

    def planned_for(self, accepted: Accepted) -> set[str]:
        """The recipients of ``accepted`` whose copy this batch (or one in flight) writes."""
        return {
            r
            for planned in (self.planned, *self.earlier)
            for s, k, r in planned
            if (s, k) == (accepted.sender, accepted.key)
        }

    def acknowledged(self) -> list[Delivery]:
        """The deliveries with where they landed (call after every send is acked)."""
        landed = []
        for delivery, future in self.deliveries:
            metadata = future.result()
            landed.append(replace(delivery, partition=metadata.partition, offset=metadata.offset))
        return landed


class InboxTopics(Protocol):
    """The recipients' inboxes as the writer needs them (:class:`bus.router.inboxes.Inboxes`)."""

    async def ensure(self, agency: str) -> None:
        """Create ``agency``'s inbox topic if this router has not yet."""

    async def lost_copies(self, accepted: Accepted, skip: Collection[str] = ()) -> list[str]:
        """Recipients whose recorded copy is no longer in their inbox."""

    def remember(self, recipient: str, partition: int, offset: int, digest: str) -> None:
        """The broker acknowledged a copy with ``digest`` at this place of the inbox."""


class Writer:
    """Turns decisions into records on the broker: inbox copies, dead letters, notices, events.

    ``inboxes`` creates inbox topics and says which copies are still there;
    ``directory`` returns the directory as it is now (who may be told of a
    refusal); ``stats`` counts what is handled, delivered and refused.
    :meth:`start` opens the producer (``producer``, or one made from the
    settings); :meth:`stop` closes it.
    """

    def __init__(
        self,
        settings: Settings,
        inboxes: InboxTopics,
        directory: Callable[[], AgencyDirectory],
        stats: RouterStats,
        *,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self._inboxes = inboxes
        self._directory = directory
        self._stats = stats
        self._given = producer
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Open the producer (after :func:`bus.kafka.probe_features`: it sets idempotence)."""
        producer = self._given if self._given is not None else make_producer(self.settings)
        self._producer = producer
        with translate_errors("starting the router's producer"):
            await producer.start()

    async def stop(self) -> None:
        """Flush and close the producer. Idempotent."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    # --- one record -----------------------------------------------------------

    async def route(
        self,
        record: ConsumerRecord[Any, Any],
        outcome: CheckedPackage | Refused,
        decision: Decision,
        writes: BatchWrites,
    ) -> None:
        """Send what ``record`` becomes: copies and events, or a refusal and its notice."""
        self._stats.handled += 1
        metrics.record_submitted()
        source = Source(record.topic, record.partition, record.offset)
        headers = decode_headers(record.headers)
        # Claims from an unverified record are capped: they are copied into the
        # dead-letter headers and the REJECTED event, which must stay writable.
        claimed_sender = _claimed_sender(record.key, headers)[:_CLAIM_CHARS]
        claimed_document = headers.get(Header.DOCUMENT_ID, "")[:_CLAIM_CHARS]
        if isinstance(outcome, CheckedPackage):
            # Verified and parsed: the package itself says who sent it and about what.
            claimed_sender = outcome.sender
            claimed_document = outcome.package.document_id
        refusal = Refused(decision) if isinstance(decision, EdxbusError) else None
        if isinstance(outcome, Refused):
            refusal = outcome
        elif refusal is not None:
            refusal = Refused(refusal.error, outcome.sender)  # checked: its signer is bound
        with log_context(document_id=claimed_document or None, agency=claimed_sender or None):
            if refusal is None:
                assert isinstance(outcome, CheckedPackage)
                assert isinstance(decision, Accepted)
                try:
                    await self._deliver_all(outcome, decision, source, writes)
                    return
                except BusError as error:
                    if error.retriable:
                        raise
                    refusal = Refused(error, outcome.sender)
                except EdxbusError as error:
                    refusal = Refused(error, outcome.sender)
            await self._reject(record, refusal, claimed_sender, claimed_document, source, writes)

    async def dead_letter_unreadable(self, error: UnreadableRecordError) -> None:
        """Put the coordinates of an unreadable record on ``edx.deadletter``, with a
        REJECTED event, and wait for both: routing then moves past it."""
        writes = BatchWrites()
        source = Source(error.topic, error.partition, error.offset)
        self._stats.handled += 1
        self._count_rejection(error)
        headers = rejection_headers(
            error, claimed_sender="", claimed_document_id="", digest="", source=source
        )
        writes.sends.append(
            asyncio.ensure_future(
                self._write_refused(self.settings.topics.deadletter, None, None, headers)
            )
        )
        event = rejected_event(
            error,
            claimed_sender="",
            claimed_document_id=f"unreadable:{source}",
            package_kind=PackageKind.UNKNOWN,
            digest="",
            source=source,
            at=datetime.now(UTC),
        )
        await self._emit(writes, event)
        with translate_errors("writing the dead-letter topic"):
            await asyncio.gather(*writes.sends)

    # --- the batch --------------------------------------------------------------

    async def flush(self, writes: BatchWrites) -> list[Delivery]:
        """Wait until the broker acknowledged every send; the copies and where they landed."""
        if writes.sends:
            with translate_errors("writing inboxes and events"):
                await asyncio.gather(*writes.sends)
        return writes.acknowledged()

    def recorded(self, writes: BatchWrites, landed: list[Delivery]) -> None:
        """The batch's copies are acknowledged and recorded: count them, and vouch
        for them until the next join (a retry then need not read them back)."""
        for d in landed:
            digest = writes.digests.get((d.sender, d.key))
            if digest is not None and d.partition is not None and d.offset is not None:
                self._inboxes.remember(d.recipient, d.partition, d.offset, digest)
        self._stats.delivered += len(writes.deliveries)
        metrics.record_delivered(len(writes.deliveries))

    # --- accepted -------------------------------------------------------------

    async def _deliver_all(
        self, checked: CheckedPackage, accepted: Accepted, source: Source, writes: BatchWrites
    ) -> None:
        package = checked.package
        now = datetime.now(UTC)
        key = accepted.key
        pending = [r for r in accepted.undelivered if not writes.is_planned(checked.sender, key, r)]
        if len(pending) < len(accepted.recipients):
            self._stats.retries += 1
            pending += await self._inboxes.lost_copies(accepted, writes.planned_for(accepted))
        if isinstance(package, DocumentPackage):
            await self._emit(writes, submitted_event(package, checked.digest, source, now))
        for recipient in pending:
            await self._deliver(checked, accepted, recipient, source, writes)
            if isinstance(package, DocumentPackage):
                event = delivered_event(package, recipient, checked.digest, source, now)
            else:
                event = status_event(package, recipient, checked.digest, source, now)
                metrics.record_status(str(package.status_code.value))
            await self._emit(writes, event)
        log.info(
            "routed",
            kind=package.kind,
            recipients=len(accepted.recipients),
            new_deliveries=len(pending),
        )

    async def _deliver(
        self,
        checked: CheckedPackage,
        accepted: Accepted,
        recipient: str,
        source: Source,
        writes: BatchWrites,
    ) -> None:
        producer = self._started()
        value = checked.raw  # unchanged: the signature must verify at every hop
        await self._inboxes.ensure(recipient)
        with translate_errors(f"writing the inbox of {recipient}"):
            future = await producer.send(
                self.settings.topics.inbox(recipient),
                value,
                key=checked.sender.encode("utf-8"),
                headers=package_headers(checked.package, checked.sender, checked.digest, source),
            )
        writes.sends.append(future)
        writes.deliveries.append((Delivery(accepted.sender, accepted.key, recipient), future))
        writes.planned.add((accepted.sender, accepted.key, recipient))
        writes.digests[(accepted.sender, accepted.key)] = checked.digest

    async def _emit(self, writes: BatchWrites, event: LifecycleEvent) -> None:
        """Send one lifecycle event, keyed by its document: the one place events are encoded."""
        producer = self._started()
        with translate_errors("writing an event"):
            future = await producer.send(
                self.settings.topics.events,
                encode_event(event),
                key=event.document_id.encode("utf-8"),
            )
        writes.sends.append(future)

    # --- refused --------------------------------------------------------------

    async def _reject(
        self,
        record: ConsumerRecord[Any, Any],
        refusal: Refused,
        claimed_sender: str,
        claimed_document: str,
        source: Source,
        writes: BatchWrites,
    ) -> None:
        """Dead-letter a refused record, tell its signer (if it has one), emit REJECTED.

        The record's bytes go to ``edx.deadletter`` unless they cannot be written
        there (larger than the topic takes, or refused by the broker): then the
        record goes without its body, its digest, size and reason in the headers,
        so one hostile record can never stop the router on its batch.
        """
        error = refusal.error
        value: bytes = record.value or b""
        digest = content_digest(value)
        document_id = claimed_document or f"unidentified:{digest[:16]}"
        kind = record_kind(record)
        self._count_rejection(error)

        def headers(kind: str | None) -> list[tuple[str, bytes]]:
            return rejection_headers(
                error,
                claimed_sender=claimed_sender,
                claimed_document_id=claimed_document,
                digest=digest,
                size=len(value),
                source=source,
                kind=kind,
            )

        key = claimed_sender.encode("utf-8") if claimed_sender else None
        body = value if len(value) <= self.settings.packages.max_package_bytes else None
        writes.sends.append(
            asyncio.ensure_future(
                self._write_refused(
                    self.settings.topics.deadletter, body, key, headers(kind or None)
                )
            )
        )
        signer = refusal.signer
        if signer and self._directory().get(signer) is not None:
            # Only the agency that verifiably signed the record hears of it.
            await self._inboxes.ensure(signer)
            writes.sends.append(
                asyncio.ensure_future(
                    self._write_refused(
                        self.settings.topics.inbox(signer),
                        body,
                        signer.encode("utf-8"),
                        headers(REJECTION_KIND),
                    )
                )
            )
        event = rejected_event(
            error,
            claimed_sender=claimed_sender,
            claimed_document_id=document_id,
            package_kind=_PACKAGE_KINDS.get(kind, PackageKind.UNKNOWN),
            digest=digest,
            source=source,
            at=datetime.now(UTC),
        )
        await self._emit(writes, event)

    def _count_rejection(self, error: EdxbusError) -> None:
        self._stats.count_rejection(error.reason_code)
        metrics.record_rejected(error.reason_code)
        log.warning("rejected", reason_code=error.reason_code, reason=str(error))

    async def _write_refused(
        self, topic: str, body: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any:
        """Write a refused record's body with its headers; if the broker will not take
        the body, write the headers alone (an outage is still raised, and retried)."""
        producer = self._started()
        if body is not None:
            try:
                with translate_errors(f"writing a refused record to {topic}"):
                    return await (await producer.send(topic, body, key=key, headers=headers))
            except BusError as error:
                if error.retriable:
                    raise
                log.warning(
                    "refused record written without its body", topic=topic, error=str(error)
                )
        with translate_errors(f"writing a refused record to {topic}"):
            # A record needs a key or a value: an empty key when neither is known.
            return await (await producer.send(topic, None, key=key or b"", headers=headers))

    def _started(self) -> AIOKafkaProducer:
        producer = self._producer
        if producer is None:
            raise BusError("the router is not started")
        return producer


def record_kind(record: ConsumerRecord[Any, Any]) -> str:
    """The ``edx-kind`` header a submitter put on a record ('' when absent)."""
    return decode_headers(record.headers).get(Header.KIND, "")


def _claimed_sender(key: bytes | None, headers: dict[str, str]) -> str:
    if key:
        return key.decode("utf-8", "replace")
    return headers.get(Header.SENDER, "")
