"""What ``AgencyClient.receive()`` hands to the application.

Three kinds of record reach an agency's inbox (DESIGN.md §1, ``edx-kind`` header):

* a **document** addressed to it — :class:`IncomingDocument`;
* a **status** package about a document it sent (01 … 16 from a recipient) or
  received (13, a take-back from the sender) — :class:`IncomingStatus`;
* a **rejection** notice: the router refused a package sent under this agency's
  name — :class:`RejectionNotice`.

Documents and statuses were verified by the client itself (not only by the
router): ``verified`` holds what the signature covers, and ``package`` was
parsed from those signed bytes only. ``data`` is the exact bytes as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agency_client.errors import SubmissionRejectedError
from edxml import DocumentPackage, StatusCode, StatusPackage
from signing import VerifiedPackage

__all__ = ["InboxItem", "IncomingDocument", "IncomingStatus", "RejectionNotice"]


@dataclass(frozen=True)
class IncomingDocument:
    """A verified document addressed to this agency."""

    document_id: str
    sender: str
    data: bytes
    digest: str
    package: DocumentPackage
    verified: VerifiedPackage
    source: str  # "topic/partition/offset" it was read from

    kind: Literal["document"] = "document"


@dataclass(frozen=True)
class IncomingStatus:
    """A verified status package: ``document_id`` is the DocumentId it answers."""

    document_id: str
    sender: str
    status_code: StatusCode
    description: str
    data: bytes
    digest: str
    package: StatusPackage
    verified: VerifiedPackage
    source: str

    kind: Literal["status"] = "status"


@dataclass(frozen=True)
class RejectionNotice:
    """The router refused a package submitted under this agency's name.

    ``data`` is the refused bytes; ``in_outbox`` says whether this client sent
    them (if not, someone else submitted a package claiming to be this agency).
    """

    document_id: str
    reason_code: str
    reason: str
    data: bytes
    digest: str
    in_outbox: bool
    source: str

    kind: Literal["rejection"] = "rejection"

    def error(self) -> SubmissionRejectedError:
        """The refusal as the named error a caller can raise or log."""
        return SubmissionRejectedError(self.reason_code, self.reason, self.document_id)


InboxItem = IncomingDocument | IncomingStatus | RejectionNotice
