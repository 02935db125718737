"""Packages composed by the gateway for a system: statuses and follow-up documents.

The native API offers the whole SDK surface; what the SDK composes itself (a status
on a received document, a take-back, a revocation, update or replacement of a sent
one) is composed here from the stored package, then sent through custody like
anything a system sends.
"""

from __future__ import annotations

from typing import Any

from agency_client import REPORTABLE_STATUSES, carried_over, free_notation
from edxml import (
    BusinessDocType,
    StatusCode,
    build,
    new_document,
    new_status,
)
from gateway.errors import BadRequestError
from gateway.model import Accepted
from gateway.service import Gateway
from gateway.systems import System

__all__ = ["REPORTABLE", "follow_up", "report", "take_back"]

#: Statuses a system reports on a received document (01 is the gateway's, 13 is take_back).
REPORTABLE = REPORTABLE_STATUSES


async def report(
    gateway: Gateway,
    system: System,
    doc_id: str,
    code: str,
    description: str,
    *,
    scope: str,
    key: str,
    fingerprint: str,
) -> Accepted:
    """Send a status (02-06, 15, 16) on a received document, signed by its recipient."""
    if code not in REPORTABLE:
        raise BadRequestError(
            f"status {code} cannot be reported: one of "
            f"{', '.join(sorted(c.value for c in REPORTABLE))}"
        )
    entry, data = gateway.item(system, doc_id)
    if entry.message_type != "edoc":
        raise BadRequestError(f"item {doc_id} is a status, not a document")
    package = gateway.custody.kept_document(data)
    status = new_status(entry.agency, package, StatusCode(code), description)
    return await gateway.send(
        system, build(status), message_type="status", scope=scope, key=key, fingerprint=fingerprint
    )


async def take_back(
    gateway: Gateway,
    system: System,
    doc_id: str,
    description: str,
    *,
    scope: str,
    key: str,
    fingerprint: str,
) -> Accepted:
    """Ask every recipient of a sent document to hand it back (status 13)."""
    original = gateway.sent_document(system, doc_id)
    status = new_status(original.sender_code, original, StatusCode.TAKE_BACK, description)
    return await gateway.send(
        system, build(status), message_type="status", scope=scope, key=key, fingerprint=fingerprint
    )


async def follow_up(
    gateway: Gateway,
    system: System,
    doc_id: str,
    business: BusinessDocType,
    reason: str,
    fields: dict[str, Any],
    *,
    scope: str,
    key: str,
    fingerprint: str,
) -> Accepted:
    """A revocation, update or replacement of a sent document, its fields carried over."""
    original = gateway.sent_document(system, doc_id)
    sender = original.sender_code
    notation = fields.pop("notation", None) or free_notation(
        sender, original, business, lambda taken: gateway.outboxes.of(sender).get(taken) is not None
    )
    values = carried_over(original, notation)
    values.update({k: v for k, v in fields.items() if v is not None})
    package = new_document(
        sender,
        list(original.recipients),
        business=business,
        target_document_id=original.document_id,
        reason=reason,
        **values,
    )
    return await gateway.send(
        system, build(package), message_type="edoc", scope=scope, key=key, fingerprint=fingerprint
    )
