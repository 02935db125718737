"""Lifecycle events as the router writes them, for feeding the log without a router."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"


def event(
    kind: str,
    n: int,
    *,
    document_id: str | None = None,
    recipient: str | None = None,
    submit_topic: str = "edx.submit",
) -> dict[str, Any]:
    """The ``n``-th event of ``kind`` (SUBMITTED, STATUS, DELIVERED or REJECTED)."""
    document = document_id or f"{SENDER},2026/11/29,{n}"
    digest = hashlib.sha256(f"{kind}{n}{document}".encode()).hexdigest()
    return {
        "event_id": hashlib.sha256(f"{kind}|{n}|{document}".encode()).hexdigest()[:32],
        "kind": kind,
        "occurred_at": datetime(2026, 11, 29, 12, 0, n % 60, tzinfo=UTC),
        "document_id": document,
        "actor": SENDER if kind != "STATUS" else RECIPIENT,
        "recipient": recipient if kind in {"STATUS", "DELIVERED"} else None,
        "package_kind": {"STATUS": "STATUS"}.get(kind, "DOCUMENT"),
        "business_type": None,
        "target_document_id": None,
        "status_code": "01" if kind == "STATUS" else None,
        "description": "refused: replay" if kind == "REJECTED" else None,
        "reason_code": "replay" if kind == "REJECTED" else None,
        "subject": None,
        "code_number": None,
        "code_notation": None,
        "due_date": None,
        "recipients": [RECIPIENT, "000.00.00.H44"] if kind == "SUBMITTED" else [],
        "content_digest": digest,
        "source_topic": submit_topic,
        "source_partition": n % 2,
        "source_offset": n,
    }
