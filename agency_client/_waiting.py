"""Waiting for answers to a sent document: every recipient's 01, or a given status,
until a named timeout that says who stayed silent, woken by changes to the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from agency_client._sent import SentDocuments
from agency_client.errors import DeliveryTimeoutError, SubmissionRejectedError
from agency_client.outbox import OutboxEntry, OutboxState, RecipientStatus
from edxml import StatusCode

__all__ = ["AnswerWaiter"]

#: Longest sleep between two looks at the outbox when nothing signalled a change.
_LOOK_AGAIN = 0.5


class AnswerWaiter:
    """Waits until recipients answered a sent document; :meth:`changed` wakes it."""

    def __init__(self, sent: SentDocuments) -> None:
        self._sent = sent
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """The outbox took an answer (or a rejection): look again now."""
        self._changed.set()

    # A named timeout, not asyncio.timeout: the error must say who stayed silent.
    async def wait_delivered(self, document_id: str, timeout: float) -> OutboxEntry:  # noqa: ASYNC109
        """Wait until every recipient returned 01 (see ``AgencyClient.wait_delivered``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            entry = self._sent.entry(document_id)
            if entry.state is OutboxState.DELIVERED:
                return entry
            if entry.state is OutboxState.REJECTED:
                raise SubmissionRejectedError(
                    entry.reason_code or "rejected", entry.reason or "", document_id
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeliveryTimeoutError(document_id, timeout, entry.missing)
            await self._wait_change(min(remaining, _LOOK_AGAIN))

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
            entry = self._sent.entry(document_id)
            wanted = set(recipients or entry.recipients)
            found = [s for s in self._sent.statuses(document_id) if s.status_code == code]
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
            await self._wait_change(min(remaining, _LOOK_AGAIN))

    async def _wait_change(self, seconds: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: see InboxReader.next
                await self._changed.wait()
