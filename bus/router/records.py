"""What the router writes: inbox copies, dead-letter records, rejection notices, events.

Pure functions from a checked package (or a refusal) to record headers and typed
lifecycle events (:class:`bus.lifecycle.LifecycleEvent`, encoded by
:func:`bus.lifecycle.encode_event`), so the router's loop only decides and sends.
Event ids are deterministic (document, recipient, step, content digest): a router
that handles the same submitted record twice writes the same events, and the
tracker keeps one.
"""

from __future__ import annotations

from datetime import datetime

from bus.lifecycle import EventKind, LifecycleEvent, PackageKind, Source, event_id
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


def _target(package: DocumentPackage) -> str | None:
    """The document a revocation, update or replacement acts on (None for a new one)."""
    business = package.business
    if business.doc_type is BusinessDocType.NEW:
        return None
    return business.document_id or next(iter(business.targets), None) or None


def _document_event(
    kind: EventKind,
    package: DocumentPackage,
    digest: str,
    source: Source,
    at: datetime,
    *,
    recipient: str | None = None,
    recipients: tuple[str, ...] = (),
) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=event_id(package.document_id, recipient, kind.value, digest),
        kind=kind,
        occurred_at=at,
        document_id=package.document_id,
        actor=package.sender_code,
        package_kind=PackageKind.DOCUMENT,
        content_digest=digest,
        source=source,
        recipient=recipient,
        business_type=package.business.doc_type.label,
        target_document_id=_target(package),
        subject=package.subject or None,
        code_number=package.code.number or None,
        code_notation=package.code.notation or None,
        due_date=package.due_date,
        recipients=recipients,
    )


def submitted_event(
    package: DocumentPackage, digest: str, source: Source, at: datetime
) -> LifecycleEvent:
    """SUBMITTED: the router accepted a document for every recipient it names."""
    return _document_event(
        EventKind.SUBMITTED,
        package,
        digest,
        source,
        at,
        recipients=tuple(package.recipient_codes),
    )


def delivered_event(
    package: DocumentPackage, recipient: str, digest: str, source: Source, at: datetime
) -> LifecycleEvent:
    """DELIVERED: the document was written to one recipient's inbox."""
    return _document_event(EventKind.DELIVERED, package, digest, source, at, recipient=recipient)


def status_event(
    package: StatusPackage, recipient: str, digest: str, source: Source, at: datetime
) -> LifecycleEvent:
    """STATUS: a status package was written to the inbox of the agency it answers."""
    step = f"{EventKind.STATUS.value}:{package.status_code.value}"
    return LifecycleEvent(
        event_id=event_id(package.document_id, recipient, step, digest),
        kind=EventKind.STATUS,
        occurred_at=at,
        document_id=package.document_id,
        actor=package.sender_code,
        package_kind=PackageKind.STATUS,
        content_digest=digest,
        source=source,
        recipient=recipient,
        status_code=package.status_code,
        description=package.description or None,
    )


def rejected_event(
    error: EdxbusError,
    *,
    claimed_sender: str,
    claimed_document_id: str,
    package_kind: PackageKind,
    digest: str,
    source: Source,
    at: datetime,
) -> LifecycleEvent:
    """REJECTED: the package went to the dead-letter topic, with its reason."""
    step = f"{EventKind.REJECTED.value}:{error.reason_code}"
    return LifecycleEvent(
        event_id=event_id(claimed_document_id, None, step, digest),
        kind=EventKind.REJECTED,
        occurred_at=at,
        document_id=claimed_document_id,
        actor=claimed_sender,
        package_kind=package_kind,
        content_digest=digest,
        source=source,
        reason_code=error.reason_code,
        description=_one_line(str(error)),
    )
