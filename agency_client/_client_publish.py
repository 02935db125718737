"""Publishing what the outbox keeps: documents and statuses submitted to ``edx.submit``,
01 answered in the background on arrival, and the re-submitter that publishes again
whatever is due (the same bytes, until every recipient answered).

Nothing is published that is not in the outbox first, so a failed publication is
left to the re-submitter rather than lost.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from agency_client._client_state import ClientState
from agency_client.items import IncomingDocument
from agency_client.outbox import OutboxEntry, PackageKind
from bus import BusError, Header, content_digest, encode_headers, get_logger, translate_errors
from edxml import DocumentPackage, StatusCode, build, new_status
from edxml.errors import EdxbusError

__all__ = ["ClientPublishing"]

_log = get_logger("agency_client")


class ClientPublishing(ClientState):
    """Statuses kept and published, arrivals answered, re-submission."""

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

    async def _send_status(
        self, answering: DocumentPackage, code: StatusCode, description: str
    ) -> OutboxEntry:
        entry = self._keep_status(answering, code, description)
        if self._background:  # arrivals (01) first: statuses reach the sender in order
            await asyncio.wait(set(self._background), timeout=self.publish_timeout)
        parts = self._require()
        published = await self._publish_kept(
            PackageKind.STATUS, entry.document_id, entry.data, entry.digest
        )
        if not published:
            return entry
        # The entry as the outbox holds it now: submitted once, so callers can tell
        # "sent" from "kept for a later retry".
        return next(
            (
                e
                for e in parts.outbox.sent_statuses(answering.document_id)
                if e.digest == entry.digest
            ),
            entry,
        )

    def _keep_status(
        self, answering: DocumentPackage, code: StatusCode, description: str
    ) -> OutboxEntry:
        """Build, sign and keep a status in the outbox (not yet published)."""
        parts = self._require()
        status = new_status(self.agency, answering, code, description)
        signed = parts.signer.sign(
            build(status), check_sender=True, limits=self.settings.package_limits
        )
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
            _log.warning(
                "01 on %s not published yet: %s",
                entry.document_id,
                exc,
                document_id=entry.document_id,
                agency=self.agency,
            )

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
                document_id=document_id,
                agency=self.agency,
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
