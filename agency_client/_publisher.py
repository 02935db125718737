"""Publishing what the outbox keeps: documents and statuses signed, kept, submitted to
``edx.submit``; 01 answered in the background on arrival; and the re-submitter that
publishes again whatever is due (the same bytes, until every recipient answered).

A document is checked before it is kept the way every reader of the bus reads it
(:meth:`Publisher.check`: ``bus.PackageReader``, the deployment's trust, limits and
agency pattern): what the router would refuse is refused here, with the same error.

Nothing is published that is not in the outbox first, so a failed publication is
left to the re-submitter rather than lost: whatever the broker answers (unreachable,
a timeout, or an error aiokafka calls fatal such as ``UnknownError`` around a broker
restart), ``send()`` and ``report()`` return normally with the package kept, and the
re-submitter publishes it later. A producer that answered with an error aiokafka
does not retry is replaced by the connection before the next try. The re-submitter
goes on past a package that fails (each failing package waits longer before its
next try, up to a minute) and ends a round early only when the broker cannot be
reached at all.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from agency_client._connection import BusConnection
from agency_client.errors import NotAuthorisedError, StatusNotAllowedError
from agency_client.items import IncomingDocument
from agency_client.outbox import Outbox, OutboxEntry, PackageKind
from bus import (
    BusError,
    Header,
    PackageReader,
    Settings,
    content_digest,
    encode_headers,
    get_logger,
    translate_errors,
)
from edxml import DocumentPackage, Mode, StatusCode, StatusPackage, build, new_status, parse
from edxml.errors import EdxbusError
from signing import ReadPackage, Signer

__all__ = ["Publisher"]

_log = get_logger("agency_client")

#: The first and the longest wait before a package whose publication failed is tried again.
_RETRY_FIRST = 1.0
_RETRY_LONGEST = 60.0
#: Re-submissions in flight at once (each chunk waits for its acknowledgements).
_RESUBMIT_IN_FLIGHT = 64
#: How far back statuses are published again after the broker lost its data.
_REPUBLISH_WINDOW = 900.0


class Publisher:
    """Signs, checks, keeps and publishes one agency's packages; re-submits what is due."""

    def __init__(
        self,
        settings: Settings,
        agency: str,
        *,
        signer: Signer,
        reader: PackageReader,
        outbox: Outbox,
        connection: BusConnection,
        resubmit_after: float,
        publish_timeout: float,
    ) -> None:
        self.settings = settings
        self.agency = agency
        self.signer = signer
        self.reader = reader
        self.resubmit_after = resubmit_after
        self.publish_timeout = publish_timeout
        self._outbox = outbox
        self._connection = connection
        self._publishing: set[str] = set()
        # digest -> (failed publications in a row, loop time before which it is not tried)
        self._retry_at: dict[str, tuple[int, float]] = {}
        #: Publications of 01 running in the background.
        self.background: set[asyncio.Task[None]] = set()

    # --- checking and keeping --------------------------------------------------

    def check(self, signed: bytes) -> ReadPackage:
        """The pre-send check: ``signed`` read as the router and every inbox will read it.

        Raises the named error (an ``EdxbusError``) of the first thing wrong with it.
        """
        return self.reader.read(signed)

    async def send(self, document: DocumentPackage | bytes) -> str:
        """Validate, sign, check, keep in the outbox, publish; the DocumentId."""
        package = document if isinstance(document, DocumentPackage) else self._parse_own(document)
        if not isinstance(package, DocumentPackage):
            raise StatusNotAllowedError(
                str(package.status_code), "send() takes documents; use report() for statuses"
            )
        if package.sender_code != self.agency:
            raise NotAuthorisedError(
                self.agency,
                f"the package names {package.sender_code} as its sender, not {self.agency}",
            )
        limits = self.settings.packages.limits
        signed = self.signer.sign(build(package), check_sender=True, limits=limits)
        self.check(signed)  # our own package must pass what the router checks
        digest = content_digest(signed)
        recipients = [r.organ_id for r in package.recipients]
        await self._outbox.keep_document(package.document_id, signed, digest, recipients)
        await self.publish_kept(PackageKind.DOCUMENT, package.document_id, signed, digest)
        return package.document_id

    def _parse_own(self, data: bytes) -> DocumentPackage | StatusPackage:
        return parse(
            data,
            mode=Mode.STRICT,
            limits=self.settings.packages.limits,
            agency_pattern=self.settings.packages.agency_pattern,
        ).package

    async def send_status(
        self, answering: DocumentPackage, code: StatusCode, description: str
    ) -> OutboxEntry:
        """Sign, keep and publish a status on ``answering``; its outbox entry."""
        entry = await self._keep_status(answering, code, description)
        if self.background:  # arrivals (01) first: statuses reach the sender in order
            await asyncio.wait(set(self.background), timeout=self.publish_timeout)
        published = await self.publish_kept(
            PackageKind.STATUS, entry.document_id, entry.data, entry.digest
        )
        if not published:
            return entry
        # The entry as the outbox holds it now: submitted once, so callers can tell
        # "sent" from "kept for a later retry".
        return next(
            (
                e
                for e in self._outbox.sent_statuses(answering.document_id)
                if e.digest == entry.digest
            ),
            entry,
        )

    async def _keep_status(
        self, answering: DocumentPackage, code: StatusCode, description: str
    ) -> OutboxEntry:
        """Build, sign and keep a status in the outbox (not yet published)."""
        status = new_status(self.agency, answering, code, description)
        signed = self.signer.sign(
            build(status), check_sender=True, limits=self.settings.packages.limits
        )
        return await self._outbox.keep_status(
            answering.document_id, code.value, signed, content_digest(signed)
        )

    # --- answering arrivals ------------------------------------------------------

    async def acknowledge_arrival(self, item: IncomingDocument) -> None:
        """Answer 01 for a document taken by the application (the same bytes every time).

        Once the 01 is in the outbox it is as safe as a published one (the
        re-submitter publishes whatever the outbox holds unpublished), so the
        publication runs in the background and the inbox moves on at once.
        """
        arrival = self._outbox.arrival(item.document_id) or await self._keep_status(
            item.package, StatusCode.ARRIVED, "Đã đến (arrived)"
        )
        task = asyncio.create_task(
            self._publish_quietly(arrival), name=f"arrival-{item.document_id}"
        )
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _publish_quietly(self, entry: OutboxEntry) -> None:
        try:
            await self.publish_kept(entry.kind, entry.document_id, entry.data, entry.digest)
        except EdxbusError as exc:  # kept in the outbox: the re-submitter tries again
            _log.warning(
                "01 on %s not published yet: %s",
                entry.document_id,
                exc,
                document_id=entry.document_id,
                agency=self.agency,
            )

    def broker_lost_data(self) -> None:
        """The inbox reader found that the broker lost its data (DESIGN.md §6).

        What that broker acknowledged may be gone: the statuses published lately
        are published again, and the producer is replaced before its next use (an
        idempotent producer's numbering means nothing to the new broker, which may
        take a new record for a duplicate and drop it while acknowledging it).
        Pending documents need nothing: the re-submitter sends them until every 01
        is back.
        """
        self._connection.producer_failed()
        again = self._outbox.republish_statuses(timedelta(seconds=_REPUBLISH_WINDOW))
        _log.warning(
            "agency %s: the broker lost its data; %d recent status(es) published again",
            self.agency,
            again,
            agency=self.agency,
        )

    # --- publishing --------------------------------------------------------------

    async def publish_kept(
        self, kind: PackageKind, document_id: str, data: bytes, digest: str
    ) -> bool:
        """Publish a package the outbox holds; ``False`` when left for a later retry.

        Never raises a broker error: the package is safe in the outbox whatever
        the broker answered, and the re-submitter tries again.
        """
        if not self._connection.connected:  # offline: the outbox keeps it
            return False
        try:
            await self._submit(kind, document_id, data, digest)
        except BusError as exc:
            _log.warning(
                "%s %s of %s kept in the outbox, not yet published: %s",
                kind.value,
                document_id,
                self.agency,
                exc,
                document_id=document_id,
                agency=self.agency,
            )
            return False
        return True

    async def _submit(self, kind: PackageKind, document_id: str, data: bytes, digest: str) -> None:
        """Publish once to ``edx.submit`` and note it in the outbox; raises :class:`BusError`."""
        producer = await self._connection.usable_producer()
        assert producer is not None
        self._publishing.add(digest)
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a
            # cancellation that comes as the publication completes, and the task
            # then outlives the client's stop() (an `edx inbox --follow` that
            # ignored Ctrl-C).
            with translate_errors(f"submitting {document_id}"):
                async with asyncio.timeout(self.publish_timeout):
                    await producer.send_and_wait(
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
                    )
        except BusError as exc:
            if not exc.retriable:
                self._connection.producer_failed(producer)
            raise
        finally:
            self._publishing.discard(digest)
        await self._outbox.note_submitted(kind, document_id, digest)

    # --- re-submitting -----------------------------------------------------------

    async def resubmit_due(self) -> int:
        """Publish now what the outbox holds as due; how many packages went out.

        A package the broker refuses is skipped (and backed off) so the others are
        still tried; the round ends early only when the broker cannot be reached.
        Publications go out in pipelined chunks, not one round trip each.
        """
        if not self._connection.connected:
            return 0
        count = 0
        now = asyncio.get_running_loop().time()
        due = [
            entry
            for entry in self._outbox.due_for_resubmit(timedelta(seconds=self.resubmit_after))
            if entry.digest not in self._publishing
            and now >= self._retry_at.get(entry.digest, (0, 0.0))[1]
        ]
        # Pipelined: a chunk of publications in flight at once, one round trip for many.
        for start in range(0, len(due), _RESUBMIT_IN_FLIGHT):
            chunk = due[start : start + _RESUBMIT_IN_FLIGHT]
            outcomes = await asyncio.gather(
                *(self._submit(e.kind, e.document_id, e.data, e.digest) for e in chunk),
                return_exceptions=True,
            )
            unreachable = False
            for entry, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, BusError):
                    self._back_off(entry, outcome, now)
                    # bus.errors.BrokerUnavailableError: nothing else would get through
                    unreachable = unreachable or isinstance(outcome, ConnectionError)
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    self._retry_at.pop(entry.digest, None)
                    count += 1
            if unreachable:
                break
        return count

    def _back_off(self, entry: OutboxEntry, exc: BusError, now: float) -> None:
        """A package whose publication failed waits longer before each next try."""
        failures, _ = self._retry_at.get(entry.digest, (0, 0.0))
        wait = min(_RETRY_FIRST * 2**failures, _RETRY_LONGEST)
        self._retry_at[entry.digest] = (failures + 1, now + wait)
        _log.warning(
            "%s %s of %s not re-submitted (next try in %.0fs): %s",
            entry.kind.value,
            entry.document_id,
            self.agency,
            wait,
            exc,
            document_id=entry.document_id,
            agency=self.agency,
        )

    async def resubmit_forever(self) -> None:
        """The re-submitter: :meth:`resubmit_due` every few seconds, until cancelled."""
        interval = max(0.2, min(self.resubmit_after / 4, 5.0))
        while True:
            try:
                sent = await self.resubmit_due()
                if sent:
                    _log.info(
                        "agency %s re-submitted %d package(s)",
                        self.agency,
                        sent,
                        agency=self.agency,
                    )
            except EdxbusError as exc:
                _log.warning(
                    "agency %s: re-submission failed: %s", self.agency, exc, agency=self.agency
                )
            await asyncio.sleep(interval)
