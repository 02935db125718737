"""Lifecycle events as typed values: what the router writes to ``edx.events``.

One :class:`LifecycleEvent` per step in a package's life (submitted, delivered to
one inbox, a status handed on, refused). Kinds and status codes are enums, so a
misspelt kind or code is an error where it is made, never a string that travels
on. :func:`encode_event` and :func:`decode_event` are the one codec between these
values and the Avro records on the topic (``bus.events.LIFECYCLE_EVENT``, whose
schema versions stay readable for years); no other code handles event dicts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from bus.errors import EventDecodeError
from bus.events import LIFECYCLE_EVENT
from edxml import StatusCode

__all__ = [
    "EventKind",
    "LifecycleEvent",
    "PackageKind",
    "Source",
    "decode_event",
    "encode_event",
    "event_id",
]


class EventKind(StrEnum):
    """The step an event records (the Avro enum ``EventKind``)."""

    SUBMITTED = "SUBMITTED"
    DELIVERED = "DELIVERED"
    STATUS = "STATUS"
    REJECTED = "REJECTED"


class PackageKind(StrEnum):
    """What the package behind the step was (the Avro enum ``PackageKind``)."""

    DOCUMENT = "DOCUMENT"
    STATUS = "STATUS"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Source:
    """Where a submitted record sits on ``edx.submit``."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def event_id(document_id: str, recipient: str | None, step: str, digest: str) -> str:
    """The deterministic id of one lifecycle step: the same (document, recipient,
    step, content) always gives the same id, so consumers deduplicate on it."""
    material = "\x1f".join((document_id, recipient or "", step, digest))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class LifecycleEvent:
    """One step in the life of a package (see ``schemas/lifecycle_event.v*.avsc``)."""

    event_id: str
    kind: EventKind
    occurred_at: datetime
    document_id: str
    actor: str
    package_kind: PackageKind
    content_digest: str
    source: Source
    recipient: str | None = None
    business_type: str | None = None
    target_document_id: str | None = None
    status_code: StatusCode | None = None
    description: str | None = None
    reason_code: str | None = None
    subject: str | None = None
    code_number: str | None = None
    code_notation: str | None = None
    due_date: date | None = None
    recipients: tuple[str, ...] = ()


def encode_event(event: LifecycleEvent) -> bytes:
    """The Avro single-object record of ``event``, written with the newest schema."""
    return LIFECYCLE_EVENT.encode(
        {
            "event_id": event.event_id,
            "kind": event.kind.value,
            "occurred_at": event.occurred_at,
            "document_id": event.document_id,
            "actor": event.actor,
            "recipient": event.recipient,
            "package_kind": event.package_kind.value,
            "business_type": event.business_type,
            "target_document_id": event.target_document_id,
            "status_code": None if event.status_code is None else event.status_code.value,
            "description": event.description,
            "reason_code": event.reason_code,
            "subject": event.subject,
            "code_number": event.code_number,
            "code_notation": event.code_notation,
            "due_date": event.due_date,
            "recipients": list(event.recipients),
            "content_digest": event.content_digest,
            "source_topic": event.source.topic,
            "source_partition": event.source.partition,
            "source_offset": event.source.offset,
        }
    )


def decode_event(data: bytes) -> LifecycleEvent:
    """The event in an ``edx.events`` record of any shipped schema version.

    Raise :class:`EventDecodeError` for a record that is not one, or whose kind or
    status code is not one the bus knows.
    """
    record = LIFECYCLE_EVENT.decode(data)
    try:
        return LifecycleEvent(
            event_id=_text(record, "event_id"),
            kind=EventKind(record["kind"]),
            occurred_at=_utc(record["occurred_at"]),
            document_id=_text(record, "document_id"),
            actor=_text(record, "actor"),
            package_kind=PackageKind(record["package_kind"]),
            content_digest=_text(record, "content_digest"),
            source=Source(
                _text(record, "source_topic"),
                int(record["source_partition"]),
                int(record["source_offset"]),
            ),
            recipient=record.get("recipient"),
            business_type=record.get("business_type"),
            target_document_id=record.get("target_document_id"),
            status_code=None
            if record.get("status_code") is None
            else StatusCode(record["status_code"]),
            description=record.get("description"),
            reason_code=record.get("reason_code"),
            subject=record.get("subject"),
            code_number=record.get("code_number"),
            code_notation=record.get("code_notation"),
            due_date=record.get("due_date"),
            recipients=tuple(record.get("recipients") or ()),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise EventDecodeError(f"lifecycle_event: record does not hold an event: {exc}") from exc


def _text(record: dict[str, Any], name: str) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError("occurred_at is not a timestamp")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
