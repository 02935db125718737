"""``AgencyClient``: how an agency's office software sends, receives and reports.

One client acts as one agency. It signs with that agency's key, keeps what it
sends in a durable outbox until every recipient's 01 came back (re-submitting the
same bytes after ``resubmit_after`` seconds of silence, across restarts), reads
the agency's own inbox, verifies every package itself, and answers 01 on its own
once the application has taken a document (see ``agency_client.inbox``).

It is an async context manager; its background tasks (the inbox reader, the
re-submitter, the publications of 01s, and — when started offline with
``connect_later`` — the connector) live inside it and end with it::

    async with AgencyClient(settings, "000.00.00.H41") as client:
        doc_id = await client.send(document)
        await client.wait_delivered(doc_id, timeout=30)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from aiokafka import TopicPartition
from cryptography.x509.oid import NameOID

from agency_client._inbox_store import InboxStore, QuarantinedPackage
from agency_client._store import Clock, utc_now
from agency_client.credentials import load_signer, load_verifier
from agency_client.errors import (
    ClientNotStartedError,
    DeliveryTimeoutError,
    NotAuthorisedError,
    StatusNotAllowedError,
    SubmissionRejectedError,
    UnknownDocumentError,
)
from agency_client.inbox import Inbox, InboxReader
from agency_client.items import InboxItem, IncomingDocument
from agency_client.outbox import Outbox, OutboxEntry, OutboxState, PackageKind, RecipientStatus
from bus import (
    BusError,
    Header,
    Settings,
    content_digest,
    encode_headers,
    make_consumer,
    make_producer,
    translate_errors,
)
from edxml import (
    BusinessDocType,
    DocumentId,
    DocumentPackage,
    Mode,
    StatusCode,
    StatusPackage,
    build,
    new_document,
    new_status,
    now_in_vietnam,
    parse,
)
from edxml.errors import EdxbusError
from signing import Signer, Verifier

__all__ = ["REPORTABLE_STATUSES", "AgencyClient"]

_log = logging.getLogger("agency_client")

#: Statuses an application reports by hand with :meth:`AgencyClient.report`.
#: 01 is sent automatically on arrival; 13 is :meth:`AgencyClient.take_back`.
REPORTABLE_STATUSES = frozenset(StatusCode(c) for c in ("02", "03", "04", "05", "06", "15", "16"))

_FOLLOW_UP_SUFFIX = {
    BusinessDocType.REVOCATION: "TH",  # thu hồi
    BusinessDocType.UPDATE: "CN",  # cập nhật
    BusinessDocType.REPLACEMENT: "TT",  # thay thế
}


@dataclass
class _Parts:
    """What :class:`AgencyClient` runs on once started (the link fills in on connecting)."""

    signer: Signer
    verifier: Verifier
    outbox: Outbox
    store: InboxStore
    reader: InboxReader
    producer: Any | None = None
    consumer: Any | None = None


class AgencyClient:
    """The SDK of one agency. See the module docstring and docs/AGENCY_INTEGRATION.md."""

    def __init__(
        self,
        settings: Settings,
        agency: str,
        *,
        key_path: Path | None = None,
        cert_path: Path | None = None,
        signer: Signer | None = None,
        verifier: Verifier | None = None,
        resubmit_after: float | None = None,
        publish_timeout: float = 15.0,
        group_id: str | None = None,
        hand_over_statuses: bool = True,
        fetch_max_wait_ms: int = 100,
        connect_later: bool = False,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.agency = agency
        self._key_path = key_path
        self._cert_path = cert_path
        self._signer = signer
        self._verifier = verifier
        self.resubmit_after = (
            settings.resubmit_after_seconds if resubmit_after is None else resubmit_after
        )
        self.publish_timeout = publish_timeout
        self.group_id = group_id or f"edx-agency-{agency}"
        self._hand_over_statuses = hand_over_statuses
        # How long the broker may hold an empty fetch: the floor of the inbox's latency.
        self.fetch_max_wait_ms = fetch_max_wait_ms
        # Start even when the broker does not answer: send() keeps documents in the
        # outbox and a background task connects (and publishes them) when it can.
        self.connect_later = connect_later
        self._clock = clock
        self._parts: _Parts | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._changed = asyncio.Event()

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Load the keys, open the outbox, connect, and start reading the inbox."""
        if self._parts is not None:
            return
        signer = self._signer or load_signer(
            self.settings, self.agency, key_path=self._key_path, cert_path=self._cert_path
        )
        if signer.agency_code != self.agency:
            raise NotAuthorisedError(self.agency, f"the signer speaks for {signer.agency_code}")
        verifier = self._verifier or load_verifier(self.settings)
        path = self.settings.outbox_path(self.agency)
        outbox = Outbox(path, clock=self._clock)
        store = InboxStore(path, clock=self._clock)
        reader = InboxReader(
            agency=self.agency,
            consumer=None,
            verifier=verifier,
            store=store,
            outbox=outbox,
            acknowledge_arrival=self._acknowledge_arrival,
            on_change=self._changed.set,
            hand_over_statuses=self._hand_over_statuses,
        )
        parts = _Parts(signer, verifier, outbox, store, reader)
        try:
            await self._connect(parts)
        except BusError as exc:
            if not (self.connect_later and exc.retriable):
                outbox.close()
                store.close()
                raise
            _log.warning("agency %s works offline until the bus answers: %s", self.agency, exc)
            self._tasks.append(
                asyncio.create_task(self._connect_loop(parts), name=f"connect-{self.agency}")
            )
        except BaseException:
            outbox.close()
            store.close()
            raise
        self._parts = parts
        self._tasks += [
            asyncio.create_task(reader.run(), name=f"inbox-{self.agency}"),
            asyncio.create_task(self._resubmit_loop(), name=f"resubmit-{self.agency}"),
        ]

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the bus (it may start offline)."""
        return self._parts is not None and self._parts.producer is not None

    async def _connect(self, parts: _Parts) -> None:
        """Start a producer and the inbox consumer; on success, hand them to ``parts``."""
        producer = make_producer(self.settings)
        consumer = make_consumer(
            self.settings, group_id=self.group_id, fetch_max_wait_ms=self.fetch_max_wait_ms
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
                _log.info("agency %s still offline: %s", self.agency, exc)
                continue
            _log.info("agency %s connected to the bus", self.agency)
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

    async def stop(self, *, settle: bool = False) -> None:
        """Stop the background tasks and disconnect; the outbox keeps what is pending.

        With ``settle=True`` the package last handed to the application counts as
        taken (its 01 goes out first); otherwise it is handed over again next time.
        """
        parts = self._parts
        if parts is None or self._stopping:
            return
        self._stopping = True
        try:
            if settle:
                try:
                    await parts.reader.settle_outstanding()
                except EdxbusError as exc:
                    _log.warning("agency %s: last package not settled: %s", self.agency, exc)
            if self._background:  # arrivals (01) on their way: give them a moment
                await asyncio.wait(set(self._background), timeout=self.publish_timeout)
        finally:
            self._parts = None
            self._stopping = False
        tasks, self._tasks = [*self._tasks, *self._background], []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if parts.consumer is not None:
            await _quietly(parts.reader.commit())
            await _quietly(parts.consumer.stop())
        if parts.producer is not None:
            await _quietly(parts.producer.stop())
        parts.outbox.close()
        parts.store.close()

    async def __aenter__(self) -> AgencyClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop(settle=exc_type is None)

    @property
    def signer(self) -> Signer:
        """The agency's loaded signing credentials."""
        return self._require().signer

    @property
    def signer_name(self) -> str:
        """The common name in the agency's certificate (a default for SignerInfo)."""
        names = self.signer.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        value = names[0].value if names else self.agency
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    # --- sending -----------------------------------------------------------------

    async def send(self, document: DocumentPackage | bytes) -> str:
        """Validate, sign, keep in the outbox, publish; the DocumentId.

        ``document`` is a package model or its unsigned EDXML bytes. The package is
        in the outbox before anything is published, so once this returns the
        document cannot be lost; when the broker is unreachable the publication is
        left to the re-submitter (logged) rather than failing the call.
        """
        parts = self._require()
        package = document if isinstance(document, DocumentPackage) else self._parse_own(document)
        if not isinstance(package, DocumentPackage):
            raise StatusNotAllowedError(
                str(package.status_code), "send() takes documents; use report() for statuses"
            )
        self._check_sender(package.sender_code)
        unsigned = build(package)
        parse(unsigned, mode=Mode.STRICT)  # our own package must pass what the router checks
        signed = parts.signer.sign(unsigned, check_sender=True)
        digest = content_digest(signed)
        recipients = [r.organ_id for r in package.recipients]
        parts.outbox.add_document(package.document_id, signed, digest, recipients)
        await self._publish_kept(PackageKind.DOCUMENT, package.document_id, signed, digest)
        return package.document_id

    async def report(
        self, document_id: str, status: StatusCode | str, description: str = ""
    ) -> OutboxEntry:
        """Send a signed status (02–06, 15, 16) on a document this agency received."""
        parts = self._require()
        code = StatusCode(status)
        if code not in REPORTABLE_STATUSES:
            why = (
                "01 is sent automatically on arrival"
                if code.value == "01"
                else "13 is sent with take_back()"
            )
            raise StatusNotAllowedError(code.value, why)
        received = parts.store.received_document(document_id)
        if received is None:
            raise UnknownDocumentError(document_id, "no such document in this agency's inbox")
        original = parse(received.data, mode=Mode.TOLERANT).package
        assert isinstance(original, DocumentPackage)
        return await self._send_status(original, code, description)

    async def take_back(self, document_id: str, description: str = "") -> OutboxEntry:
        """Ask every recipient to hand a sent document back (status 13)."""
        original = self._sent_document(document_id)
        return await self._send_status(original, StatusCode("13"), description)

    async def revoke(self, document_id: str, reason: str, **fields: Any) -> str:
        """Revoke a sent document: a new package (BussinessDocType 1) naming it."""
        return await self._follow_up(document_id, BusinessDocType.REVOCATION, reason, fields)

    async def update(self, document_id: str, reason: str, **fields: Any) -> str:
        """Send an update of a sent document (BussinessDocType 2); ``fields`` change it."""
        return await self._follow_up(document_id, BusinessDocType.UPDATE, reason, fields)

    async def replace(self, document_id: str, reason: str, **fields: Any) -> str:
        """Send a replacement of a sent document (BussinessDocType 3); ``fields`` change it."""
        return await self._follow_up(document_id, BusinessDocType.REPLACEMENT, reason, fields)

    # --- receiving ---------------------------------------------------------------

    def receive(self, *, idle_timeout: float | None = None) -> Inbox:
        """An async iterator of verified packages from this agency's inbox.

        A package counts as taken when the application asks for the next one,
        calls ``acknowledge(item)``, or leaves the ``async with`` block of the
        inbox or the client without an exception. Then it is recorded (never
        handed over twice), 01 goes back to the sender, and the offset is committed.
        """
        return Inbox(self._require().reader, idle_timeout)

    async def acknowledge(self, item: InboxItem) -> None:
        """Mark ``item`` as taken now (records it, answers 01, commits)."""
        await self._require().reader.acknowledge(item)

    # --- what happened to what was sent ----------------------------------------

    def sent(self, document_id: str) -> OutboxEntry:
        """The outbox entry of a sent document (its state, who confirmed arrival)."""
        entry = self._require().outbox.get(document_id)
        if entry is None:
            raise UnknownDocumentError(document_id, "this agency did not send it")
        return entry

    def pending(self) -> list[OutboxEntry]:
        """Packages still waiting for an arrival (or their first publication)."""
        return self._require().outbox.pending()

    def statuses(self, document_id: str) -> list[RecipientStatus]:
        """Every status the recipients reported on a sent document, oldest first."""
        return self._require().outbox.statuses(document_id)

    def quarantined(self) -> list[QuarantinedPackage]:
        """Inbox records that failed verification and were not handed over."""
        return self._require().store.quarantined()

    # A named timeout, not asyncio.timeout: the error must say who stayed silent.
    async def wait_delivered(self, document_id: str, timeout: float) -> OutboxEntry:  # noqa: ASYNC109
        """Wait until every recipient returned 01.

        Raises :class:`SubmissionRejectedError` if the router refused the document,
        :class:`DeliveryTimeoutError` (naming who is silent) after ``timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            entry = self.sent(document_id)
            if entry.state is OutboxState.DELIVERED:
                return entry
            if entry.state is OutboxState.REJECTED:
                raise SubmissionRejectedError(
                    entry.reason_code or "rejected", entry.reason or "", document_id
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeliveryTimeoutError(document_id, timeout, entry.missing)
            await self._wait_change(min(remaining, 0.5))

    async def wait_for_status(
        self,
        document_id: str,
        status: StatusCode | str,
        timeout: float,  # noqa: ASYNC109 (a named timeout saying who stayed silent)
        *,
        recipients: Sequence[str] | None = None,
    ) -> list[RecipientStatus]:
        """Wait until ``status`` came back from every recipient named (default: all)."""
        code = StatusCode(status).value
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            entry = self.sent(document_id)
            wanted = set(recipients or entry.recipients)
            found = [s for s in self.statuses(document_id) if s.status_code == code]
            if wanted <= {s.recipient for s in found}:
                return found
            if entry.state is OutboxState.REJECTED:
                raise SubmissionRejectedError(
                    entry.reason_code or "rejected", entry.reason or "", document_id
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                missing = sorted(wanted - {s.recipient for s in found})
                raise DeliveryTimeoutError(document_id, timeout, missing)
            await self._wait_change(min(remaining, 0.5))

    async def resubmit_due(self) -> int:
        """Publish now what the outbox holds as due; how many packages went out."""
        parts = self._require()
        count = 0
        for entry in parts.outbox.due_for_resubmit(timedelta(seconds=self.resubmit_after)):
            if entry.digest in self._publishing:
                continue
            if await self._publish_kept(entry.kind, entry.document_id, entry.data, entry.digest):
                count += 1
        return count

    # --- internals ---------------------------------------------------------------

    def _require(self) -> _Parts:
        if self._parts is None:
            raise ClientNotStartedError(
                f"the client of {self.agency} is not started (use 'async with' or start())"
            )
        return self._parts

    def _check_sender(self, sender: str) -> None:
        if sender != self.agency:
            raise NotAuthorisedError(
                self.agency, f"the package names {sender} as its sender, not {self.agency}"
            )

    @staticmethod
    def _parse_own(data: bytes) -> DocumentPackage | StatusPackage:
        return parse(data, mode=Mode.STRICT).package

    def _sent_document(self, document_id: str) -> DocumentPackage:
        entry = self.sent(document_id)
        package = parse(entry.data, mode=Mode.TOLERANT).package
        assert isinstance(package, DocumentPackage)
        return package

    async def _follow_up(
        self, document_id: str, business: BusinessDocType, reason: str, fields: dict[str, Any]
    ) -> str:
        original = self._sent_document(document_id)
        notation = fields.pop("notation", None) or self._free_notation(original, business)
        values: dict[str, Any] = {
            "number": original.code.number,
            "notation": notation,
            "subject": original.subject,
            "content": original.content,
            "due_date": original.due_date,
            "attachments": original.attachments,
            "signer_name": original.signer.full_name,
            "signer_position": original.signer.position,
            "signer_competence": original.signer.competence,
            "place": original.promulgation.place,
            "document_type": original.document_type.type,
        }
        values.update(fields)
        package = new_document(
            self.agency,
            list(original.recipients),
            business=business,
            target_document_id=document_id,
            reason=reason,
            **values,
        )
        return await self.send(package)

    def _free_notation(self, original: DocumentPackage, business: BusinessDocType) -> str:
        """A notation for a follow-up that gives a DocumentId not used yet today."""
        base = f"{original.code.notation}-{_FOLLOW_UP_SUFFIX[business]}"
        outbox = self._require().outbox
        today = now_in_vietnam().date()  # the promulgation date new_document will use
        for n in range(1, 1000):
            notation = base if n == 1 else f"{base}{n}"
            candidate = DocumentId.build(self.agency, today, original.code.number, notation)
            if outbox.get(str(candidate)) is None:
                return notation
        return f"{base}{now_in_vietnam():%H%M%S}"

    async def _send_status(
        self, answering: DocumentPackage, code: StatusCode, description: str
    ) -> OutboxEntry:
        entry = self._keep_status(answering, code, description)
        if self._background:  # arrivals (01) first: statuses reach the sender in order
            await asyncio.wait(set(self._background), timeout=self.publish_timeout)
        await self._publish_kept(PackageKind.STATUS, entry.document_id, entry.data, entry.digest)
        return entry

    def _keep_status(
        self, answering: DocumentPackage, code: StatusCode, description: str
    ) -> OutboxEntry:
        """Build, sign and keep a status in the outbox (not yet published)."""
        parts = self._require()
        status = new_status(self.agency, answering, code, description)
        signed = parts.signer.sign(build(status), check_sender=True)
        return parts.outbox.add_status(
            answering.document_id, code.value, signed, content_digest(signed)
        )

    async def _acknowledge_arrival(self, item: IncomingDocument) -> None:
        """Answer 01 for a document taken by the application (the same bytes every time).

        Once the 01 is in the outbox it is as safe as a published one (the
        re-submitter publishes whatever the outbox holds unpublished), so the
        publication runs in the background and the inbox moves on at once.
        """
        parts = self._require()
        arrival = next(
            (e for e in parts.outbox.sent_statuses(item.document_id) if e.status_code == "01"),
            None,
        ) or self._keep_status(item.package, StatusCode.ARRIVED, "Đã đến (arrived)")
        task = asyncio.create_task(
            self._publish_quietly(arrival), name=f"arrival-{item.document_id}"
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_quietly(self, entry: OutboxEntry) -> None:
        try:
            await self._publish_kept(entry.kind, entry.document_id, entry.data, entry.digest)
        except EdxbusError as exc:  # kept in the outbox: the re-submitter tries again
            _log.warning("01 on %s not published yet: %s", entry.document_id, exc)

    async def _publish_kept(
        self, kind: PackageKind, document_id: str, data: bytes, digest: str
    ) -> bool:
        """Publish a package the outbox holds; ``False`` when left for a later retry."""
        parts = self._require()
        producer = parts.producer
        if producer is None:  # offline: the outbox keeps it, the re-submitter retries
            return False
        self._publishing.add(digest)
        try:
            with translate_errors(f"submitting {document_id}"):
                await asyncio.wait_for(
                    producer.send_and_wait(
                        self.settings.topics.submit,
                        value=data,
                        key=self.agency.encode("utf-8"),
                        headers=encode_headers(
                            {
                                Header.KIND: kind.value,
                                Header.DOCUMENT_ID: document_id,
                                Header.SENDER: self.agency,
                                Header.DIGEST: digest,
                            }
                        ),
                    ),
                    self.publish_timeout,
                )
        except BusError as exc:
            if not exc.retriable:
                raise
            _log.warning(
                "%s %s of %s kept in the outbox, not yet published: %s",
                kind.value,
                document_id,
                self.agency,
                exc,
            )
            return False
        finally:
            self._publishing.discard(digest)
        parts.outbox.mark_submitted(kind, document_id, digest)
        return True

    async def _resubmit_loop(self) -> None:
        interval = max(0.2, min(self.resubmit_after / 4, 5.0))
        while True:
            try:
                sent = await self.resubmit_due()
                if sent:
                    _log.info("agency %s re-submitted %d package(s)", self.agency, sent)
            except EdxbusError as exc:
                _log.warning("agency %s: re-submission failed: %s", self.agency, exc)
            await asyncio.sleep(interval)

    async def _wait_change(self, seconds: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
