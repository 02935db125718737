"""The router's writes for one batch: each record's outcome sent on, without waiting.

An accepted package goes unchanged to every recipient that lacks it (a retry also
checks that recorded copies are still in their inboxes), with its lifecycle
events; a refused one goes to ``edx.deadletter`` (without its body when the body
cannot be written there) with a REJECTED event, and a rejection notice goes to
the inbox of the agency that verifiably signed it, if any. Every send is collected in a
:class:`_Batch`, awaited together and recorded by :mod:`bus._router_loop`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.structs import TopicPartition

from bus import metrics
from bus._router_check import CheckedPackage, Refused
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
from bus._router_state import RouterState
from bus.acceptance import Accepted, Delivery
from bus.errors import BusError, UnreadableRecordError
from bus.kafka import partition_ends, translate_errors
from bus.lifecycle import LifecycleEvent, encode_event
from bus.logs import get_logger, log_context
from bus.records import Header, content_digest, decode_headers
from bus.topics import ensure_inbox
from edxml import DocumentPackage
from edxml.errors import EdxbusError

__all__ = ["RouterWrites", "record_kind"]

#: The router's log lines keep the router's logger name wherever they are written.
log = get_logger("bus.router")
#: Longest sender code or DocumentId taken from an unverified record's key or headers
#: (real ones are a few dozen characters).
_CLAIM_CHARS = 256


@dataclass
class _Batch:
    """The writes of one batch: sent, then awaited together, then recorded."""

    sends: list[asyncio.Future[Any]] = field(default_factory=list)
    deliveries: list[tuple[Delivery, asyncio.Future[Any]]] = field(default_factory=list)
    planned: set[tuple[str, str, str]] = field(default_factory=set)
    #: (sender, key) -> content digest of the packages delivered in this batch.
    digests: dict[tuple[str, str], str] = field(default_factory=dict)

    def acknowledged(self) -> list[Delivery]:
        """The deliveries with where they landed (call after every send is acked)."""
        landed = []
        for delivery, future in self.deliveries:
            metadata = future.result()
            landed.append(replace(delivery, partition=metadata.partition, offset=metadata.offset))
        return landed


class RouterWrites(RouterState):
    """Routing each record of a batch: deliveries, events and refusals."""

    async def _route_record(
        self,
        record: ConsumerRecord[Any, Any],
        outcome: CheckedPackage | Refused,
        decision: Accepted | EdxbusError | None,
        work: _Batch,
    ) -> None:
        self.stats.handled += 1
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
                    await self._route_checked(outcome, decision, source, work)
                    return
                except BusError as error:
                    if error.retriable:
                        raise
                    refusal = Refused(error, outcome.sender)
                except EdxbusError as error:
                    refusal = Refused(error, outcome.sender)
            await self._reject(record, refusal, claimed_sender, claimed_document, source, work)

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
        work.digests[(accepted.sender, accepted.key)] = checked.digest

    async def _lost_copies(self, accepted: Accepted, work: _Batch) -> list[str]:
        """Recipients whose recorded copy is not (or no longer) in their inbox.

        A retry normally skips recipients that have the package. But a broker that
        lost its data (the embedded Tansu keeps memory only) no longer holds those
        copies, and may meanwhile hold other records at the same offsets: the copy
        counts as present only if the record at its recorded offset carries this
        package's digest. The sender's retry is then what brings a lost copy back.
        """
        lost = []
        for recipient in accepted.delivered:
            if (accepted.sender, accepted.key, recipient) in work.planned:
                continue
            position = accepted.positions.get(recipient)
            if position is None:
                # Recorded without where it landed: nothing to check it against,
                # so it is written again (receivers keep one copy per DocumentId).
                lost.append(recipient)
                continue
            await self._ensure_inbox(recipient)
            tp = TopicPartition(self.settings.topics.inbox(recipient), position[0])
            if not await self._copy_present(tp, position[1], accepted.digest):
                lost.append(recipient)
        return sorted(lost)

    async def _copy_present(self, tp: TopicPartition, offset: int, digest: str) -> bool:
        """Whether the record at ``offset`` of ``tp`` is the package with ``digest``."""
        if self._copies.holds(tp.topic, tp.partition, offset, digest):
            return True
        probe = self._require(self._probe)
        with translate_errors("reading an inbox copy"):
            probe.assign([tp])
            ends = await probe.end_offsets([tp])
            if ends.get(tp, 0) <= offset:
                # Tansu lists the start of the last batch plus one: ask for the true end.
                ends = await partition_ends(probe, [tp])
                if ends.get(tp, 0) <= offset:
                    return False
            probe.seek(tp, offset)
            batch = await probe.getmany(tp, timeout_ms=5000, max_records=1)
        for record in batch.get(tp, []):
            if record.offset == offset:
                present = decode_headers(record.headers).get(Header.DIGEST) == digest
                if present:
                    self._copies.remember(tp.topic, tp.partition, offset, digest)
                return present
        return False  # not readable now: writing it again is the safe side (receivers dedup)

    async def _ensure_inbox(self, agency: str) -> None:
        """Create an inbox once per router lifetime before writing to it.

        Registration creates inboxes, but a directory written by other tools may
        not have, and a producer would wait for a missing topic instead of failing.
        """
        if agency not in self._inboxes:
            await ensure_inbox(self.settings, agency)
            self._inboxes.add(agency)

    async def _emit(self, work: _Batch, event: LifecycleEvent) -> None:
        producer = self._require(self._producer)
        with translate_errors("writing an event"):
            future = await producer.send(
                self.settings.topics.events,
                encode_event(event),
                key=event.document_id.encode("utf-8"),
            )
        work.sends.append(future)

    async def _reject(
        self,
        record: ConsumerRecord[Any, Any],
        refusal: Refused,
        claimed_sender: str,
        claimed_document: str,
        source: Source,
        work: _Batch,
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
                size=len(value),
                source=source,
                kind=kind,
            )

        key = claimed_sender.encode("utf-8") if claimed_sender else None
        body = value if len(value) <= self.settings.max_package_bytes else None
        work.sends.append(
            asyncio.ensure_future(
                self._write_refused(
                    self.settings.topics.deadletter, body, key, headers(kind or None)
                )
            )
        )
        signer = refusal.signer
        if signer and self._follower.directory.get(signer) is not None:
            # Only the agency that verifiably signed the record hears of it.
            await self._ensure_inbox(signer)
            work.sends.append(
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
            package_kind=kind.upper() if kind in {"document", "status"} else "UNKNOWN",
            digest=digest,
            source=source,
            at=datetime.now(UTC),
        )
        await self._emit(work, event)

    async def _dead_letter_unreadable(self, error: UnreadableRecordError) -> None:
        """Put the coordinates of an unreadable record on ``edx.deadletter``, with a
        REJECTED event, and wait for both: routing then moves past it."""
        work = _Batch()
        source = Source(error.topic, error.partition, error.offset)
        self.stats.handled += 1
        self.stats.rejected += 1
        self.stats.reasons[error.reason_code] = self.stats.reasons.get(error.reason_code, 0) + 1
        metrics.record_rejected(error.reason_code)
        log.warning("rejected", reason_code=error.reason_code, reason=str(error))
        headers = rejection_headers(
            error, claimed_sender="", claimed_document_id="", digest="", source=source
        )
        work.sends.append(
            asyncio.ensure_future(
                self._write_refused(self.settings.topics.deadletter, None, None, headers)
            )
        )
        event = rejected_event(
            error,
            claimed_sender="",
            claimed_document_id=f"unreadable:{source}",
            package_kind="UNKNOWN",
            digest="",
            source=source,
            at=datetime.now(UTC),
        )
        await self._emit(work, event)
        with translate_errors("writing the dead-letter topic"):
            await asyncio.gather(*work.sends)

    async def _write_refused(
        self, topic: str, body: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any:
        """Write a refused record's body with its headers; if the broker will not take
        the body, write the headers alone (an outage is still raised, and retried)."""
        producer = self._require(self._producer)
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


def record_kind(record: ConsumerRecord[Any, Any]) -> str:
    """The ``edx-kind`` header a submitter put on a record ('' when absent)."""
    return decode_headers(record.headers).get(Header.KIND, "")


def _claimed_sender(key: bytes | None, headers: dict[str, str]) -> str:
    if key:
        return key.decode("utf-8", "replace")
    return headers.get(Header.SENDER, "")
