"""The log's leaf record: one router decision, in one canonical byte encoding.

The leaf hash is SHA-256(0x00 || these bytes), so the encoding is part of what the
log proves and must never depend on a library's whim. It is JSON with (see
docs/AUDIT.md): keys sorted, no insignificant whitespace, UTF-8 without escapes
for non-ASCII letters, integers only (no floats), ``null`` for what is absent,
lists kept in the order the package names them. ``v`` versions the layout.

A leaf comes from one lifecycle event on ``edx.events``, the router's own record
of its decisions (a :class:`bus.lifecycle.LifecycleEvent`): ``SUBMITTED`` (a
document accepted), ``STATUS`` (a status package accepted and routed) and
``REJECTED`` (a refusal). ``DELIVERED`` events are copies of an accepted decision
and make no leaf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bus.errors import EventDecodeError
from bus.lifecycle import EventKind, LifecycleEvent

__all__ = ["LEAF_VERSION", "Coordinates", "Decision", "LeafRecord", "leaf_from_event"]

LEAF_VERSION = 1


class Decision(StrEnum):
    """What the router decided about a submitted package."""

    ACCEPTED = "accepted"
    REFUSED = "refused"


@dataclass(frozen=True)
class Coordinates:
    """Where a record sits in Kafka: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def as_json(self) -> dict[str, Any]:
        """The coordinates as the leaf writes them."""
        return {"offset": self.offset, "partition": self.partition, "topic": self.topic}


@dataclass(frozen=True)
class LeafRecord:
    """One router decision as the log records it."""

    decision: Decision
    kind: str
    document_id: str
    sender: str
    recipients: tuple[str, ...]
    digest: str
    status_code: str | None
    reason_code: str | None
    decided_at: datetime
    event_id: str
    submit: Coordinates
    event: Coordinates

    def encode(self) -> bytes:
        """The canonical bytes of this leaf (what the leaf hash covers)."""
        body = {
            "decided_at": _iso_millis(self.decided_at),
            "decision": self.decision.value,
            "digest": self.digest,
            "document_id": self.document_id,
            "event": self.event.as_json(),
            "event_id": self.event_id,
            "kind": self.kind,
            "reason_code": self.reason_code,
            "recipients": list(self.recipients),
            "sender": self.sender,
            "status_code": self.status_code,
            "submit": self.submit.as_json(),
            "v": LEAF_VERSION,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, data: bytes) -> LeafRecord:
        """Read canonical leaf bytes back (refusing anything that would not re-encode equal)."""
        try:
            body = json.loads(data.decode("utf-8"))
            if body.get("v") != LEAF_VERSION:
                raise ValueError(f"unknown leaf version {body.get('v')!r}")
            leaf = cls(
                decision=Decision(body["decision"]),
                kind=str(body["kind"]),
                document_id=str(body["document_id"]),
                sender=str(body["sender"]),
                recipients=tuple(str(r) for r in body["recipients"]),
                digest=str(body["digest"]),
                status_code=body["status_code"],
                reason_code=body["reason_code"],
                decided_at=datetime.fromisoformat(body["decided_at"]),
                event_id=str(body["event_id"]),
                submit=Coordinates(**body["submit"]),
                event=Coordinates(**body["event"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise EventDecodeError(f"a log leaf does not decode: {error}") from error
        if leaf.encode() != data:
            raise EventDecodeError("a log leaf is not in its canonical encoding")
        return leaf


def _iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


_DECISIONS = {
    EventKind.SUBMITTED: Decision.ACCEPTED,
    EventKind.STATUS: Decision.ACCEPTED,
    EventKind.REJECTED: Decision.REFUSED,
}


def leaf_from_event(event: LifecycleEvent, at: Coordinates) -> LeafRecord | None:
    """The leaf for one lifecycle event read at ``at``; ``None`` for DELIVERED."""
    decision = _DECISIONS.get(event.kind)
    if decision is None:
        return None
    recipients = event.recipients
    if event.kind is EventKind.STATUS and event.recipient:
        recipients = (event.recipient,)
    return LeafRecord(
        decision=decision,
        kind=event.package_kind.value.lower(),
        document_id=event.document_id,
        sender=event.actor,
        recipients=recipients,
        digest=event.content_digest,
        status_code=None if event.status_code is None else event.status_code.value,
        reason_code=event.reason_code,
        decided_at=event.occurred_at,
        event_id=event.event_id,
        submit=Coordinates(event.source.topic, event.source.partition, event.source.offset),
        event=at,
    )
