"""What an agency sends about documents it already exchanged: a status reported on a
document it received, a take-back (13) of one it sent, and the revocation, update or
replacement of one it sent (its fields carried over, ``fields`` changing them, with a
notation that gives a DocumentId not used yet today).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agency_client._inbox_store import InboxStore
from agency_client._publisher import Publisher
from agency_client._sent import SentDocuments
from agency_client.errors import StatusNotAllowedError, UnknownDocumentError
from agency_client.outbox import OutboxEntry
from bus import Settings
from edxml import (
    BusinessDocType,
    DocumentId,
    DocumentPackage,
    Mode,
    StatusCode,
    new_document,
    now_in_vietnam,
    parse,
)

__all__ = ["REPORTABLE_STATUSES", "FollowUps", "carried_over", "free_notation"]

#: Statuses an application reports by hand with :meth:`AgencyClient.report`.
#: 01 is sent automatically on arrival; 13 is :meth:`AgencyClient.take_back`.
REPORTABLE_STATUSES = frozenset(StatusCode(c) for c in ("02", "03", "04", "05", "06", "15", "16"))

_FOLLOW_UP_SUFFIX = {
    BusinessDocType.REVOCATION: "TH",  # thu hồi
    BusinessDocType.UPDATE: "CN",  # cập nhật
    BusinessDocType.REPLACEMENT: "TT",  # thay thế
}


class FollowUps:
    """Reports on received documents, and take-backs and follow-ups of sent ones."""

    def __init__(
        self,
        settings: Settings,
        agency: str,
        *,
        received: InboxStore,
        sent: SentDocuments,
        publisher: Publisher,
    ) -> None:
        self.settings = settings
        self.agency = agency
        self._received = received
        self._sent = sent
        self._publisher = publisher

    async def report(
        self, document_id: str, status: StatusCode | str, description: str
    ) -> OutboxEntry:
        """A status (02–06, 15, 16) on a document this agency received, sent."""
        code = StatusCode(status)
        if code not in REPORTABLE_STATUSES:
            why = (
                "01 is sent automatically on arrival"
                if code.value == "01"
                else "13 is sent with take_back()"
            )
            raise StatusNotAllowedError(code.value, why)
        received = self._received.received_document(document_id)
        if received is None:
            raise UnknownDocumentError(document_id, "no such document in this agency's inbox")
        original = parse(
            received.data, mode=Mode.TOLERANT, limits=self.settings.packages.limits
        ).package
        assert isinstance(original, DocumentPackage)
        return await self._publisher.send_status(original, code, description)

    async def take_back(self, document_id: str, description: str) -> OutboxEntry:
        """Status 13 on a sent document, to every recipient."""
        original = self._sent.document(document_id)
        return await self._publisher.send_status(original, StatusCode.TAKE_BACK, description)

    async def follow_up(
        self, document_id: str, business: BusinessDocType, reason: str, fields: dict[str, Any]
    ) -> str:
        """A revocation, update or replacement of a sent document, sent; its DocumentId."""
        original = self._sent.document(document_id)
        notation = fields.pop("notation", None) or free_notation(
            self.agency, original, business, self._sent.exists
        )
        values = carried_over(original, notation)
        values.update(fields)
        package = new_document(
            self.agency,
            list(original.recipients),
            business=business,
            target_document_id=document_id,
            reason=reason,
            **values,
        )
        return await self._publisher.send(package)


def carried_over(original: DocumentPackage, notation: str) -> dict[str, Any]:
    """The fields a follow-up of ``original`` carries over (``new_document``'s keywords)."""
    return {
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


def free_notation(
    agency: str,
    original: DocumentPackage,
    business: BusinessDocType,
    used: Callable[[str], bool],
) -> str:
    """A notation for a follow-up that gives a DocumentId not ``used`` yet today."""
    base = f"{original.code.notation}-{_FOLLOW_UP_SUFFIX[business]}"
    today = now_in_vietnam().date()  # the promulgation date new_document will use
    for n in range(1, 1000):
        notation = base if n == 1 else f"{base}{n}"
        candidate = DocumentId.build(agency, today, original.code.number, notation)
        if not used(str(candidate)):
            return notation
    return f"{base}{now_in_vietnam():%H%M%S}"
