"""Follow-up documents: a revocation, update or replacement composed from a document
this agency sent (its fields carried over, ``fields`` changing them), with a notation
that gives a DocumentId not used yet today.
"""

from __future__ import annotations

from typing import Any

from agency_client._client_state import ClientState
from edxml import (
    BusinessDocType,
    DocumentId,
    DocumentPackage,
    Mode,
    new_document,
    now_in_vietnam,
    parse,
)

__all__ = ["ClientFollowUps"]

_FOLLOW_UP_SUFFIX = {
    BusinessDocType.REVOCATION: "TH",  # thu hồi
    BusinessDocType.UPDATE: "CN",  # cập nhật
    BusinessDocType.REPLACEMENT: "TT",  # thay thế
}


class ClientFollowUps(ClientState):
    """Composing follow-ups of sent documents."""

    def _sent_document(self, document_id: str) -> DocumentPackage:
        entry = self.sent(document_id)
        package = parse(entry.data, mode=Mode.TOLERANT, limits=self.settings.package_limits).package
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
