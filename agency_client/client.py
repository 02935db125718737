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

The class is the client's lifecycle and its public methods; the work is done by
collaborators it wires together when it starts, each handed what it needs:

- ``BusConnection`` (``_connection``): the producer and the inbox consumer, connected
  now or later, the producer replaced after an error aiokafka does not retry;
- ``Publisher`` (``_publisher``): signs, checks before sending, keeps in the outbox,
  submits, answers arrivals with 01, and re-submits what is due;
- ``InboxReader`` (``inbox``): reads, verifies and hands over the inbox, answering
  arrivals through the publisher;
- ``FollowUps`` (``_follow_ups``): reports, take-backs and revocations, updates and
  replacements;
- ``SentDocuments`` (``_sent``) and ``AnswerWaiter`` (``_waiting``): what was sent
  and what came back, and waiting for it.

What the client reads (its inbox) and what it checks before sending both go through
the deployment's one read path, ``bus.PackageReader`` (``load_reader``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.x509.oid import NameOID

from agency_client._connection import BusConnection, quietly
from agency_client._follow_ups import REPORTABLE_STATUSES, FollowUps
from agency_client._inbox_store import InboxStore, QuarantinedPackage
from agency_client._publisher import Publisher
from agency_client._sent import SentDocuments
from agency_client._store import Clock, utc_now
from agency_client._waiting import AnswerWaiter
from agency_client.credentials import load_reader, load_signer
from agency_client.errors import ClientNotStartedError, NotAuthorisedError
from agency_client.inbox import Inbox, InboxReader
from agency_client.items import InboxItem
from agency_client.outbox import Outbox, OutboxEntry, RecipientStatus
from agency_client.tuning import ClientTuning
from bus import BusError, PackageReader, Settings, get_logger
from edxml import BusinessDocType, DocumentPackage, StatusCode
from edxml.errors import EdxbusError
from signing import Signer, Verifier

__all__ = ["REPORTABLE_STATUSES", "AgencyClient"]

_log = get_logger("agency_client")


@dataclass(frozen=True)
class _Parts:
    """What a started client runs on: its credentials, stores and collaborators."""

    signer: Signer
    outbox: Outbox
    store: InboxStore
    connection: BusConnection
    publisher: Publisher
    inbox: InboxReader
    sent: SentDocuments
    waiter: AnswerWaiter
    follow_ups: FollowUps

    def close_stores(self) -> None:
        self.outbox.close()
        self.store.close()


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
        # A verifier given (tests) is read through with the settings' package rules.
        self._verifier = verifier
        self.resubmit_after = (
            settings.delivery.resubmit_after_seconds if resubmit_after is None else resubmit_after
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
        self._stopping = False

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
        reader = load_reader(self.settings, self._verifier)
        path = self.settings.outbox_path(self.agency)
        outbox = Outbox(path, clock=self._clock)
        outbox.group_commit.max_group = self.tuning.max_group
        store = InboxStore(path, clock=self._clock, group_commit=outbox.group_commit)
        parts = self._assemble(signer, reader, outbox, store)
        try:
            parts.inbox.attach(await parts.connection.connect())
        except BusError as exc:
            if not (self.connect_later and exc.retriable):
                parts.close_stores()
                raise
            _log.warning(
                "agency %s works offline until the bus answers: %s",
                self.agency,
                exc,
                agency=self.agency,
            )
            self._tasks.append(
                asyncio.create_task(
                    parts.connection.connect_when_possible(parts.inbox.attach),
                    name=f"connect-{self.agency}",
                )
            )
        except BaseException:
            parts.close_stores()
            raise
        self._parts = parts
        self._tasks += [
            asyncio.create_task(parts.inbox.run(), name=f"inbox-{self.agency}"),
            asyncio.create_task(parts.publisher.resubmit_forever(), name=f"resubmit-{self.agency}"),
        ]

    def _assemble(
        self, signer: Signer, reader: PackageReader, outbox: Outbox, store: InboxStore
    ) -> _Parts:
        """The collaborators, each handed what it works with (wired here only)."""
        connection = BusConnection(
            self.settings, self.agency, group_id=self.group_id, tuning=self.tuning
        )
        publisher = Publisher(
            self.settings,
            self.agency,
            signer=signer,
            reader=reader,
            outbox=outbox,
            connection=connection,
            resubmit_after=self.resubmit_after,
            publish_timeout=self.publish_timeout,
        )
        sent = SentDocuments(outbox, self.settings.packages.limits)
        waiter = AnswerWaiter(sent)
        inbox = InboxReader(
            agency=self.agency,
            consumer=None,
            reader=reader,
            store=store,
            outbox=outbox,
            acknowledge_arrival=publisher.acknowledge_arrival,
            on_change=waiter.changed,
            on_broker_loss=publisher.broker_lost_data,
            hand_over_statuses=self._hand_over_statuses,
            max_batch=self.tuning.max_batch,
        )
        follow_ups = FollowUps(
            self.settings, self.agency, received=store, sent=sent, publisher=publisher
        )
        return _Parts(signer, outbox, store, connection, publisher, inbox, sent, waiter, follow_ups)

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the bus (it may start offline)."""
        return self._parts is not None and self._parts.connection.connected

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
                    await parts.inbox.settle_outstanding()
                except EdxbusError as exc:
                    _log.warning(
                        "agency %s: last package not settled: %s",
                        self.agency,
                        exc,
                        agency=self.agency,
                    )
            current = asyncio.current_task()
            interrupted = current is not None and current.cancelling() > 0  # e.g. Ctrl-C
            if parts.publisher.background and not interrupted:
                # Arrivals (01) on their way: give them a moment. Not on an interrupt:
                # they are in the outbox, and the next start publishes them.
                await asyncio.wait(set(parts.publisher.background), timeout=self.publish_timeout)
        finally:
            self._parts = None
            self._stopping = False
        tasks, self._tasks = [*self._tasks, *parts.publisher.background], []
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
        if parts.connection.consumer is not None:
            await quietly(_within(self.publish_timeout, parts.inbox.commit()))
        await parts.connection.close()
        parts.close_stores()

    async def __aenter__(self) -> AgencyClient:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
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

        ``document`` is a package model or its unsigned EDXML bytes. Before it is
        kept, the signed package is read as the router will read it (the settings'
        trust, limits and agency pattern): what the router would refuse raises here.
        The package is in the outbox before anything is published, so once this
        returns the document cannot be lost. A broker error while publishing
        (unreachable, a timeout, or any error it answers) is not the caller's: it is
        logged, the package stays in the outbox, and the re-submitter publishes it
        later (``sent(doc_id).submit_count`` tells whether it went out already).
        Errors of the document itself (format, signature, a DocumentId reused) still
        raise.
        """
        return await self._require().publisher.send(document)

    async def report(
        self, document_id: str, status: StatusCode | str, description: str = ""
    ) -> OutboxEntry:
        """Send a signed status (02–06, 15, 16) on a document this agency received."""
        return await self._require().follow_ups.report(document_id, status, description)

    async def take_back(self, document_id: str, description: str = "") -> OutboxEntry:
        """Ask every recipient to hand a sent document back (status 13)."""
        return await self._require().follow_ups.take_back(document_id, description)

    async def revoke(self, document_id: str, reason: str, **fields: Any) -> str:
        """Revoke a sent document: a new package (BussinessDocType 1) naming it."""
        follow_ups = self._require().follow_ups
        return await follow_ups.follow_up(document_id, BusinessDocType.REVOCATION, reason, fields)

    async def update(self, document_id: str, reason: str, **fields: Any) -> str:
        """Send an update of a sent document (BussinessDocType 2); ``fields`` change it."""
        follow_ups = self._require().follow_ups
        return await follow_ups.follow_up(document_id, BusinessDocType.UPDATE, reason, fields)

    async def replace(self, document_id: str, reason: str, **fields: Any) -> str:
        """Send a replacement of a sent document (BussinessDocType 3); ``fields`` change it."""
        follow_ups = self._require().follow_ups
        return await follow_ups.follow_up(document_id, BusinessDocType.REPLACEMENT, reason, fields)

    async def resubmit_due(self) -> int:
        """Publish now what the outbox holds as due; how many packages went out.

        A package the broker refuses is skipped (and backed off) so the others are
        still tried; the round ends early only when the broker cannot be reached.
        Publications go out in pipelined chunks, not one round trip each.
        """
        return await self._require().publisher.resubmit_due()

    # --- receiving ---------------------------------------------------------------

    def receive(self, *, idle_timeout: float | None = None) -> Inbox:
        """An async iterator of verified packages from this agency's inbox.

        A package counts as taken when the application asks for the next one,
        calls ``acknowledge(item)``, or leaves the ``async with`` block of the
        inbox or the client without an exception. Then it is recorded (never
        handed over twice), 01 goes back to the sender, and the offset is committed.
        """
        return Inbox(self._require().inbox, idle_timeout)

    async def acknowledge(self, item: InboxItem) -> None:
        """Mark ``item`` as taken now (records it, answers 01, commits)."""
        await self._require().inbox.acknowledge(item)

    # --- what happened to what was sent ----------------------------------------

    def sent(self, document_id: str) -> OutboxEntry:
        """The outbox entry of a sent document (its state, who confirmed arrival)."""
        return self._require().sent.entry(document_id)

    def pending(self) -> list[OutboxEntry]:
        """Packages still waiting for an arrival (or their first publication)."""
        return self._require().sent.pending()

    def statuses(self, document_id: str) -> list[RecipientStatus]:
        """Every status the recipients reported on a sent document, oldest first."""
        return self._require().sent.statuses(document_id)

    # A named timeout, not asyncio.timeout: the error must say who stayed silent.
    async def wait_delivered(self, document_id: str, timeout: float) -> OutboxEntry:  # noqa: ASYNC109
        """Wait until every recipient returned 01.

        Raises :class:`SubmissionRejectedError` if the router refused the document,
        :class:`DeliveryTimeoutError` (naming who is silent) after ``timeout``.
        """
        return await self._require().waiter.wait_delivered(document_id, timeout)

    async def wait_for_status(
        self,
        document_id: str,
        status: StatusCode | str,
        timeout: float,  # noqa: ASYNC109 (a named timeout saying who stayed silent)
        *,
        recipients: Sequence[str] | None = None,
    ) -> list[RecipientStatus]:
        """Wait until ``status`` came back from every recipient named (default: all)."""
        waiter = self._require().waiter
        return await waiter.wait_for_status(document_id, status, timeout, recipients=recipients)

    def store_commits(self) -> tuple[int, int]:
        """Transactions the local stores committed in groups, and the writes they carried."""
        group = self._require().outbox.group_commit
        return group.commits, group.writes

    def quarantined(self) -> list[QuarantinedPackage]:
        """Inbox records that failed verification and were not handed over."""
        return self._require().store.quarantined()

    # --- internals ---------------------------------------------------------------

    def _require(self) -> _Parts:
        if self._parts is None:
            raise ClientNotStartedError(
                f"the client of {self.agency} is not started (use 'async with' or start())"
            )
        return self._parts


async def _within(seconds: float, awaitable: Awaitable[None]) -> None:
    """Await with a deadline (the last commit must not hold up a stop on a dead broker)."""
    async with asyncio.timeout(seconds):
        await awaitable
