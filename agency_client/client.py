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

The class is the client's lifecycle, sending, receiving and queries; it is assembled
from parts beside this module that each own one job: connecting
(``_client_connect``), publishing and re-submitting (``_client_publish``), follow-up
documents (``_client_follow_up``) and waiting for answers (``_client_waiting``), over
the state they share (``_client_state``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.x509.oid import NameOID

from agency_client._client_connect import ClientConnection, _quietly
from agency_client._client_follow_up import ClientFollowUps
from agency_client._client_publish import ClientPublishing
from agency_client._client_state import _Parts
from agency_client._client_waiting import ClientWaiting
from agency_client._inbox_store import InboxStore, QuarantinedPackage
from agency_client._store import Clock, utc_now
from agency_client.credentials import load_signer, load_verifier
from agency_client.errors import NotAuthorisedError, StatusNotAllowedError, UnknownDocumentError
from agency_client.inbox import Inbox, InboxReader
from agency_client.items import InboxItem
from agency_client.outbox import Outbox, OutboxEntry, PackageKind, RecipientStatus
from agency_client.tuning import ClientTuning
from bus import BusError, Settings, content_digest, get_logger
from edxml import BusinessDocType, DocumentPackage, Mode, StatusCode, StatusPackage, build, parse
from edxml.errors import EdxbusError
from signing import Signer, Verifier

__all__ = ["REPORTABLE_STATUSES", "AgencyClient"]

_log = get_logger("agency_client")

#: Statuses an application reports by hand with :meth:`AgencyClient.report`.
#: 01 is sent automatically on arrival; 13 is :meth:`AgencyClient.take_back`.
REPORTABLE_STATUSES = frozenset(StatusCode(c) for c in ("02", "03", "04", "05", "06", "15", "16"))


class AgencyClient(ClientConnection, ClientPublishing, ClientFollowUps, ClientWaiting):
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
        fetch_max_wait_ms: int | None = None,
        tuning: ClientTuning | None = None,
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
        # Latency and batching knobs (agency_client.tuning); fetch_max_wait_ms, when
        # given, overrides the tuning's (it predates it).
        self.tuning = tuning or ClientTuning.from_env()
        if fetch_max_wait_ms is not None:
            self.tuning = replace(self.tuning, fetch_max_wait_ms=fetch_max_wait_ms)
        # Start even when the broker does not answer: send() keeps documents in the
        # outbox and a background task connects (and publishes them) when it can.
        self.connect_later = connect_later
        self._clock = clock
        self._parts: _Parts | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing: set[str] = set()
        self._retry_at: dict[str, tuple[int, float]] = {}
        self._renewing = asyncio.Lock()
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
        outbox.group_commit.max_group = self.tuning.max_group
        store = InboxStore(path, clock=self._clock, group_commit=outbox.group_commit)
        reader = InboxReader(
            agency=self.agency,
            consumer=None,
            verifier=verifier,
            store=store,
            outbox=outbox,
            acknowledge_arrival=self._acknowledge_arrival,
            on_change=self._changed.set,
            on_broker_loss=self._broker_lost_data,
            hand_over_statuses=self._hand_over_statuses,
            max_batch=self.tuning.max_batch,
        )
        parts = _Parts(signer, verifier, outbox, store, reader)
        try:
            await self._connect(parts)
        except BusError as exc:
            if not (self.connect_later and exc.retriable):
                outbox.close()
                store.close()
                raise
            _log.warning(
                "agency %s works offline until the bus answers: %s",
                self.agency,
                exc,
                agency=self.agency,
            )
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

    async def stop(self, *, settle: bool = False) -> None:
        """Stop the background tasks and disconnect; the outbox keeps what is pending.

        With ``settle=True`` the package last handed to the application counts as
        taken (its 01 goes out first); otherwise it is handed over again next time.
        Every wait in here is bounded, so a stop on Ctrl-C ends promptly.
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
                    _log.warning(
                        "agency %s: last package not settled: %s",
                        self.agency,
                        exc,
                        agency=self.agency,
                    )
            current = asyncio.current_task()
            interrupted = current is not None and current.cancelling() > 0  # e.g. Ctrl-C
            if self._background and not interrupted:
                # Arrivals (01) on their way: give them a moment. Not on an interrupt:
                # they are in the outbox, and the next start publishes them.
                await asyncio.wait(set(self._background), timeout=self.publish_timeout)
        finally:
            self._parts = None
            self._stopping = False
        tasks, self._tasks = [*self._tasks, *self._background], []
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a task that ignored its cancellation must not hang the stop
            _, stuck = await asyncio.wait(tasks, timeout=self.publish_timeout)
            for task in stuck:
                _log.warning(
                    "agency %s: task %s did not stop",
                    self.agency,
                    task.get_name(),
                    agency=self.agency,
                )
        if parts.consumer is not None:
            await _quietly(_within(self.publish_timeout, parts.reader.commit()))
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
        document cannot be lost. A broker error while publishing (unreachable, a
        timeout, or any error it answers) is not the caller's: it is logged, the
        package stays in the outbox, and the re-submitter publishes it later
        (``sent(doc_id).submit_count`` tells whether it went out already). Errors
        of the document itself (format, signature, a DocumentId reused) still raise.
        """
        parts = self._require()
        package = document if isinstance(document, DocumentPackage) else self._parse_own(document)
        if not isinstance(package, DocumentPackage):
            raise StatusNotAllowedError(
                str(package.status_code), "send() takes documents; use report() for statuses"
            )
        self._check_sender(package.sender_code)
        unsigned = build(package)
        # our own package must pass what the router checks
        parse(unsigned, mode=Mode.STRICT, limits=self.settings.package_limits)
        signed = parts.signer.sign(unsigned, check_sender=True, limits=self.settings.package_limits)
        digest = content_digest(signed)
        recipients = [r.organ_id for r in package.recipients]
        await parts.outbox.keep_document(package.document_id, signed, digest, recipients)
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
        original = parse(
            received.data, mode=Mode.TOLERANT, limits=self.settings.package_limits
        ).package
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

    def store_commits(self) -> tuple[int, int]:
        """Transactions the local stores committed in groups, and the writes they carried."""
        group = self._require().outbox.group_commit
        return group.commits, group.writes

    def quarantined(self) -> list[QuarantinedPackage]:
        """Inbox records that failed verification and were not handed over."""
        return self._require().store.quarantined()

    # --- internals ---------------------------------------------------------------

    def _check_sender(self, sender: str) -> None:
        if sender != self.agency:
            raise NotAuthorisedError(
                self.agency, f"the package names {sender} as its sender, not {self.agency}"
            )

    def _parse_own(self, data: bytes) -> DocumentPackage | StatusPackage:
        return parse(data, mode=Mode.STRICT, limits=self.settings.package_limits).package


async def _within(seconds: float, awaitable: Awaitable[None]) -> None:
    """Await with a deadline (the last commit must not hold up a stop on a dead broker)."""
    async with asyncio.timeout(seconds):
        await awaitable
