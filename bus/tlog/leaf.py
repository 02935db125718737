"""The log's leaf record: one router decision, in one canonical byte encoding.

The leaf hash is SHA-256(0x00 || these bytes), so the encoding is part of what the
log proves and must never depend on a library's whim. It is JSON with (see
docs/AUDIT.md): keys sorted, no insignificant whitespace, UTF-8 without escapes
for non-ASCII letters, integers only (no floats), ``null`` for what is absent,
lists kept in the order the package names them. ``v`` versions the layout.

A leaf comes from one lifecycle event on ``edx.events``, the router's own record
of its decisions: ``SUBMITTED`` (a document accepted), ``STATUS`` (a status
package accepted and routed) and ``REJECTED`` (a refusal). ``DELIVERED`` events
are copies of an accepted decision and make no leaf.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bus.errors import EventDecodeError

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


_DECISIONS = {"SUBMITTED": Decision.ACCEPTED, "STATUS": Decision.ACCEPTED}


def leaf_from_event(event: Mapping[str, Any], at: Coordinates) -> LeafRecord | None:
    """The leaf for one decoded lifecycle event read at ``at``; ``None`` for DELIVERED."""
    kind = str(event["kind"])
    if kind == "REJECTED":
        decision = Decision.REFUSED
    elif kind in _DECISIONS:
        decision = _DECISIONS[kind]
    else:
        return None
    recipients: tuple[str, ...] = tuple(event.get("recipients") or ())
    if kind == "STATUS" and event.get("recipient"):
        recipients = (str(event["recipient"]),)
    occurred = event["occurred_at"]
    if not isinstance(occurred, datetime):
        raise EventDecodeError("a lifecycle event has no occurred_at time")
    return LeafRecord(
        decision=decision,
        kind=str(event["package_kind"]).lower(),
        document_id=str(event["document_id"]),
        sender=str(event["actor"]),
        recipients=recipients,
        digest=str(event["content_digest"]),
        status_code=event.get("status_code"),
        reason_code=event.get("reason_code"),
        decided_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC),
        event_id=str(event["event_id"]),
        submit=Coordinates(
            str(event["source_topic"]), int(event["source_partition"]), int(event["source_offset"])
        ),
        event=at,
    )
