"""What the router writes: inbox copies, dead-letter records, rejection notices, events.

Pure functions from a checked package (or a refusal) to record headers and Avro
lifecycle events, so the router's loop only decides and sends. Event ids are
deterministic (document, recipient, step, content digest): a router that handles
the same submitted record twice writes the same events, and the tracker keeps one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bus.records import Header, encode_headers
from edxml import BusinessDocType, DocumentPackage, StatusPackage
from edxml.errors import EdxbusError

__all__ = [
    "REJECTION_KIND",
    "Source",
    "delivered_event",
    "event_id",
    "package_headers",
    "rejected_event",
    "rejection_headers",
    "status_event",
    "submitted_event",
]

#: ``edx-kind`` of a rejection notice in the inbox of the agency that signed the record.
REJECTION_KIND = "rejection"


@dataclass(frozen=True)
class Source:
    """Where a submitted record sits on ``edx.submit``."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def event_id(document_id: str, recipient: str | None, step: str, digest: str) -> str:
    """The deterministic id of one lifecycle step."""
    material = "\x1f".join((document_id, recipient or "", step, digest))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def package_headers(
    package: DocumentPackage | StatusPackage, sender: str, digest: str, source: Source
) -> list[tuple[str, bytes]]:
    """Headers of a package copied to an inbox."""
    return encode_headers(
        {
            Header.KIND: package.kind,
            Header.DOCUMENT_ID: package.document_id,
            Header.SENDER: sender,
            Header.DIGEST: digest,
            Header.SOURCE: str(source),
        }
    )


def rejection_headers(
    error: EdxbusError,
    *,
    claimed_sender: str,
    claimed_document_id: str,
    digest: str,
    source: Source,
    kind: str | None = None,
    size: int | None = None,
) -> list[tuple[str, bytes]]:
    """Headers of a dead-letter record (and, with ``kind="rejection"``, of a notice).

    Digest, size and reason identify the record even when its body is left out.
    """
    values = {
        Header.REASON_CODE: error.reason_code,
        Header.REASON: _one_line(str(error)),
        Header.SENDER: claimed_sender,
        Header.DOCUMENT_ID: claimed_document_id,
        Header.DIGEST: digest,
        Header.SOURCE: str(source),
        Header.SIZE: "" if size is None else str(size),
    }
    if kind is not None:
        values[Header.KIND] = kind
    return encode_headers({k: v for k, v in values.items() if v})


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1000]


def _base(
    kind: str,
    *,
    document_id: str,
    actor: str,
    digest: str,
    source: Source,
    at: datetime,
    recipient: str | None = None,
    package_kind: str,
    step: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id(document_id, recipient, step or kind, digest),
        "kind": kind,
        "occurred_at": at,
        "document_id": document_id,
        "actor": actor,
        "recipient": recipient,
        "package_kind": package_kind,
        "business_type": None,
        "target_document_id": None,
        "status_code": None,
        "description": None,
        "reason_code": None,
        "subject": None,
        "code_number": None,
        "code_notation": None,
        "due_date": None,
        "recipients": [],
        "content_digest": digest,
        "source_topic": source.topic,
        "source_partition": source.partition,
        "source_offset": source.offset,
    }


def _document_fields(package: DocumentPackage) -> dict[str, Any]:
    business = package.business
    target = None
    if business.doc_type is not BusinessDocType.NEW:
        target = business.document_id or next(iter(business.targets), None)
    return {
        "business_type": business.doc_type.label,
        "target_document_id": target or None,
        "subject": package.subject or None,
        "code_number": package.code.number or None,
        "code_notation": package.code.notation or None,
        "due_date": package.due_date,
    }


def submitted_event(
    package: DocumentPackage, digest: str, source: Source, at: datetime
) -> dict[str, Any]:
    """SUBMITTED: the router accepted a document for every recipient it names."""
    event = _base(
        "SUBMITTED",
        document_id=package.document_id,
        actor=package.sender_code,
        digest=digest,
        source=source,
        at=at,
        package_kind="DOCUMENT",
    )
    event.update(_document_fields(package))
    event["recipients"] = list(package.recipient_codes)
    return event


def delivered_event(
    package: DocumentPackage, recipient: str, digest: str, source: Source, at: datetime
) -> dict[str, Any]:
    """DELIVERED: the document was written to one recipient's inbox."""
    event = _base(
        "DELIVERED",
        document_id=package.document_id,
        actor=package.sender_code,
        digest=digest,
        source=source,
        at=at,
        recipient=recipient,
        package_kind="DOCUMENT",
    )
    event.update(_document_fields(package))
    return event


def status_event(
    package: StatusPackage, recipient: str, digest: str, source: Source, at: datetime
) -> dict[str, Any]:
    """STATUS: a status package was written to the inbox of the agency it answers."""
    code = str(package.status_code.value)
    event = _base(
        "STATUS",
        document_id=package.document_id,
        actor=package.sender_code,
        digest=digest,
        source=source,
        at=at,
        recipient=recipient,
        package_kind="STATUS",
        step=f"STATUS:{code}",
    )
    event["status_code"] = code
    event["description"] = package.description or None
    return event


def rejected_event(
    error: EdxbusError,
    *,
    claimed_sender: str,
    claimed_document_id: str,
    package_kind: str,
    digest: str,
    source: Source,
    at: datetime,
) -> dict[str, Any]:
    """REJECTED: the package went to the dead-letter topic, with its reason."""
    event = _base(
        "REJECTED",
        document_id=claimed_document_id,
        actor=claimed_sender,
        digest=digest,
        source=source,
        at=at,
        package_kind=package_kind,
        step=f"REJECTED:{error.reason_code}",
    )
    event["reason_code"] = error.reason_code
    event["description"] = _one_line(str(error))
    return event
