"""What an agency sent, as its outbox keeps it: the entry of a document, the package it
carried, and the statuses its recipients reported.
"""

from __future__ import annotations

from agency_client.errors import UnknownDocumentError
from agency_client.outbox import Outbox, OutboxEntry, RecipientStatus
from edxml import DocumentPackage, Limits, Mode, parse

__all__ = ["SentDocuments"]


class SentDocuments:
    """The read side of the outbox, in the terms of the client's public methods."""

    def __init__(self, outbox: Outbox, limits: Limits) -> None:
        self._outbox = outbox
        self._limits = limits

    def entry(self, document_id: str) -> OutboxEntry:
        """The outbox entry of a sent document; :class:`UnknownDocumentError` if none."""
        entry = self._outbox.get(document_id)
        if entry is None:
            raise UnknownDocumentError(document_id, "this agency did not send it")
        return entry

    def exists(self, document_id: str) -> bool:
        """Whether the outbox holds a document with this DocumentId."""
        return self._outbox.get(document_id) is not None

    def document(self, document_id: str) -> DocumentPackage:
        """The package of a sent document, read back from the bytes that were sent."""
        data = self.entry(document_id).data
        package = parse(data, mode=Mode.TOLERANT, limits=self._limits).package
        assert isinstance(package, DocumentPackage)
        return package

    def pending(self) -> list[OutboxEntry]:
        """Packages still waiting for an arrival (or their first publication)."""
        return self._outbox.pending()

    def statuses(self, document_id: str) -> list[RecipientStatus]:
        """Every status the recipients reported on a sent document, oldest first."""
        return self._outbox.statuses(document_id)
