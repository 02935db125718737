"""One-shot operations for a clerk at a terminal: what ``edx send/inbox/report`` call.

Each function starts a client for the agency, does one thing, and stops it. The
outbox persists between calls, so a document sent while the bus is down is
published by the next command run as that agency (every client start re-submits
what is due), and ``edx inbox`` also records the arrivals (01) of what the agency sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from agency_client.client import AgencyClient
from agency_client.errors import DeliveryTimeoutError
from agency_client.items import InboxItem
from agency_client.outbox import OutboxEntry
from bus import Settings
from edxml import Attachment, StatusCode, new_document

__all__ = ["SendOutcome", "read_inbox", "report_status", "send_document"]


@dataclass(frozen=True)
class SendOutcome:
    """What ``send_document`` did: the DocumentId and the outbox's view of it."""

    document_id: str
    entry: OutboxEntry
    #: ``True`` when every recipient's 01 came back within the wait.
    delivered: bool


def _attachment(path: Path) -> Attachment:
    return Attachment.from_bytes(path.name, path.read_bytes())


async def send_document(
    settings: Settings,
    sender: str,
    recipients: Sequence[str],
    *,
    number: str,
    notation: str,
    subject: str,
    attachments: Sequence[Path] = (),
    due_date: date | None = None,
    content: str = "",
    signer_name: str = "",
    wait: float = 0.0,
    **client_options: Any,
) -> SendOutcome:
    """Build, sign, keep and publish a document; optionally wait for the 01s."""
    files = [_attachment(p) for p in attachments]
    options = {"connect_later": True, **client_options}  # a clerk's document is kept offline
    async with AgencyClient(settings, sender, **options) as client:
        package = new_document(
            sender,
            list(recipients),
            number=number,
            notation=notation,
            subject=subject,
            content=content,
            signer_name=signer_name or client.signer_name,
            due_date=due_date,
            attachments=files,
        )
        document_id = await client.send(package)
        delivered = False
        if wait > 0:
            try:
                await client.wait_delivered(document_id, wait)
                delivered = True
            except DeliveryTimeoutError:
                delivered = False
        return SendOutcome(document_id, client.sent(document_id), delivered)


async def read_inbox(
    settings: Settings,
    agency: str,
    *,
    follow: bool = False,
    idle_timeout: float = 3.0,
    **client_options: Any,
) -> AsyncIterator[InboxItem]:
    """The agency's new packages; each is taken (01 goes back) once the caller is done with it.

    Without ``follow`` the iteration ends once nothing arrived for ``idle_timeout``
    seconds; with it, it runs until cancelled (Ctrl-C).
    """
    async with (
        AgencyClient(settings, agency, **client_options) as client,
        client.receive(idle_timeout=None if follow else idle_timeout) as inbox,
    ):
        async for item in inbox:
            yield item
            await inbox.acknowledge(item)  # shown to the clerk: taken


async def report_status(
    settings: Settings,
    agency: str,
    document_id: str,
    status: StatusCode | str,
    description: str = "",
    **client_options: Any,
) -> OutboxEntry:
    """Send one signed status on a document the agency received."""
    async with AgencyClient(settings, agency, **client_options) as client:
        return await client.report(document_id, status, description)
