"""Make new packages with sensible defaults: what office software calls to send.

``new_document`` fills the DocumentId from the sender, the date and the code,
and a TraceHeader with the sender and the current time; ``new_status`` answers
a document (or a ResponseFor) with a status code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from edxml._dates import VIETNAM_TIME
from edxml.codes import BusinessDocType, StatusCode
from edxml.document_id import DocumentId
from edxml.model import (
    Attachment,
    Business,
    DocumentCode,
    DocumentPackage,
    DocumentType,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
)

__all__ = ["new_document", "new_status", "now_in_vietnam"]


def now_in_vietnam() -> datetime:
    """The current time in Vietnam, to the second (EDXML's resolution)."""
    return datetime.now(VIETNAM_TIME).replace(microsecond=0)


def _org(value: Organization | str) -> Organization:
    return value if isinstance(value, Organization) else Organization(organ_id=value)


def new_document(
    sender: Organization | str,
    recipients: Sequence[Organization | str],
    *,
    number: str,
    notation: str,
    subject: str,
    promulgation_date: date | None = None,
    place: str | None = None,
    content: str | None = None,
    signer_name: str = "",
    signer_position: str = "",
    signer_competence: str = "",
    signer: SignerInfo | None = None,
    due_date: date | None = None,
    business: BusinessDocType = BusinessDocType.NEW,
    target_document_id: str | None = None,
    reason: str | None = None,
    replaced: Sequence[ReplacementInfo] = (),
    attachments: Sequence[Attachment] = (),
    document_type: int = 1,
    type_name: str = "",
    priority: int = 0,
    to_places: Sequence[str] = (),
    response_for: Sequence[ResponseFor] = (),
    staff: StaffInfo | None = None,
    paper: bool = False,
    timestamp: datetime | None = None,
) -> DocumentPackage:
    """A document package ready to build and sign.

    The DocumentId is ``{sender},{date},{number}/{notation}``; the promulgation
    date defaults to today in Vietnam; the TraceHeader names the sender at
    ``timestamp`` (default: now). ``signer`` (a whole SignerInfo, e.g. the
    original's for a follow-up) wins over the ``signer_*`` parts. Strict mode
    requires the signer's full name: a package without one will not pass.
    """
    sender_org = _org(sender)
    when = timestamp or now_in_vietnam()
    issued = promulgation_date or when.astimezone(VIETNAM_TIME).date()
    document_id = DocumentId.build(sender_org.organ_id, issued, number, notation)
    return DocumentPackage(
        sender=sender_org,
        recipients=tuple(_org(r) for r in recipients),
        document_id=str(document_id),
        code=DocumentCode(number, notation),
        promulgation=PromulgationInfo(place=place or "", date=issued),
        document_type=DocumentType(type=document_type, type_name=type_name),
        subject=subject,
        content=content or "",
        signer=signer
        or SignerInfo(
            competence=signer_competence, position=signer_position, full_name=signer_name
        ),
        due_date=due_date,
        other_info=OtherInfo(priority=priority),
        to_places=tuple(to_places),
        response_for=tuple(response_for),
        trace_headers=(TraceHeader(sender_org.organ_id, when),),
        business=Business(
            doc_type=BusinessDocType(business),
            document_id=target_document_id or "",
            reason=reason or "",
            paper=paper,
            staff_info=staff,
            replacements=tuple(replaced),
        ),
        attachments=tuple(attachments),
    )


def new_status(
    sender: Organization | str,
    answering: DocumentPackage | ResponseFor,
    status: StatusCode,
    description: str,
    *,
    staff: StaffInfo | None = None,
    timestamp: datetime | None = None,
) -> StatusPackage:
    """A status package from ``sender`` about the document ``answering``."""
    if isinstance(answering, DocumentPackage):
        response = ResponseFor(
            organ_id=answering.sender_code,
            code=str(answering.code),
            promulgation_date=answering.promulgation.date,
            document_id=answering.document_id,
        )
    else:
        response = answering
    sender_org = _org(sender)
    when = timestamp or now_in_vietnam()
    return StatusPackage(
        sender=sender_org,
        response_for=response,
        status_code=StatusCode(status),
        description=description,
        timestamp=when,
        staff_info=staff,
        trace_headers=(TraceHeader(sender_org.organ_id, when),),
    )
