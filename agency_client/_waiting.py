"""Waiting for answers to a sent document: every recipient's 01, or a given status,
until a named timeout that says who stayed silent, woken by changes to the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from agency_client._sent import SentDocuments
from agency_client.errors import DeliveryTimeoutError, SubmissionRejectedError
from agency_client.outbox import OutboxEntry, OutboxState, RecipientStatus
from edxml import StatusCode

__all__ = ["AnswerWaiter"]

#: Longest sleep between two looks at the outbox when nothing signalled a change.
_LOOK_AGAIN = 0.5

_T = TypeVar("_T")


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

        def delivered(entry: OutboxEntry) -> tuple[OutboxEntry | None, Sequence[str]]:
            return (entry if entry.state is OutboxState.DELIVERED else None), entry.missing

        return await self._until(document_id, timeout, delivered)

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

        def reported(entry: OutboxEntry) -> tuple[list[RecipientStatus] | None, Sequence[str]]:
            wanted = set(recipients or entry.recipients)
            found = [s for s in self._sent.statuses(document_id) if s.status_code == code]
            missing = sorted(wanted - {s.recipient for s in found})
            return (None if missing else found), missing

        return await self._until(document_id, timeout, reported)

    async def _until(
        self,
        document_id: str,
        timeout: float,  # noqa: ASYNC109 (a named timeout saying who stayed silent)
        look: Callable[[OutboxEntry], tuple[_T | None, Sequence[str]]],
    ) -> _T:
        """Look at the document's entry until ``look`` gives an answer; raise when the
        router refused it, or when ``timeout`` passed, naming who ``look`` still misses."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            entry = self._sent.entry(document_id)
            answer, missing = look(entry)
            if answer is not None:
                return answer
            if entry.state is OutboxState.REJECTED:
                raise SubmissionRejectedError(
                    entry.reason_code or "rejected", entry.reason or "", document_id
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DeliveryTimeoutError(document_id, timeout, missing)
            await self._wait_change(min(remaining, _LOOK_AGAIN))

    async def _wait_change(self, seconds: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: see InboxReader.next
                await self._changed.wait()
