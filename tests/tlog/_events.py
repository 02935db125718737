"""Lifecycle events as the router writes them, for feeding the log without a router."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from bus.lifecycle import EventKind, LifecycleEvent, PackageKind, Source, event_id
from edxml import StatusCode

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"


def event(
    kind: EventKind,
    n: int,
    *,
    document_id: str | None = None,
    recipient: str | None = None,
    submit_topic: str = "edx.submit",
) -> LifecycleEvent:
    """The ``n``-th event of ``kind``, its id made as the router makes it."""
    document = document_id or f"{SENDER},2026/11/29,{n}"
    digest = hashlib.sha256(f"{kind.value}{n}{document}".encode()).hexdigest()
    is_status = kind is EventKind.STATUS
    rejected = kind is EventKind.REJECTED
    addressed = recipient if kind in {EventKind.STATUS, EventKind.DELIVERED} else None
    code = StatusCode.ARRIVED if is_status else None
    step = {
        EventKind.STATUS: f"{kind.value}:{StatusCode.ARRIVED.value}",
        EventKind.REJECTED: f"{kind.value}:replay",
    }.get(kind, kind.value)
    return LifecycleEvent(
        event_id=event_id(document, addressed, step, digest),
        kind=kind,
        occurred_at=datetime(2026, 11, 29, 12, 0, n % 60, tzinfo=UTC),
        document_id=document,
        actor=RECIPIENT if is_status else SENDER,
        package_kind=PackageKind.STATUS if is_status else PackageKind.DOCUMENT,
        content_digest=digest,
        source=Source(submit_topic, n % 2, n),
        recipient=addressed,
        status_code=code,
        description="refused: replay" if rejected else None,
        reason_code="replay" if rejected else None,
        recipients=(RECIPIENT, "000.00.00.H44") if kind is EventKind.SUBMITTED else (),
    )
