"""The hash chain of the event history (tamper evidence; docs/AUDIT.md explains it).

Every history row of a document carries ``prev_hash``, the ``row_hash`` of the row
before it (:data:`GENESIS` for the first), and ``row_hash``, the SHA-256 of the row's
own content plus ``prev_hash`` in a canonical JSON form. Changing any hashed field of
any row, deleting a row or inserting one breaks the chain at that point, which
:func:`verify_chain` finds without trusting anything stored besides the rows.

The same functions chain the trail an auditor's replay exports, so a trail read back
from an Avro file is checked exactly like one read from the tracker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["GENESIS", "HASHED_FIELDS", "ChainCheck", "row_hash", "verify_chain"]

#: ``prev_hash`` of the first row of every document.
GENESIS = "0" * 64

#: The fields a row's hash covers, in the order they are written.
HASHED_FIELDS: tuple[str, ...] = (
    "document_id",
    "sequence",
    "event_id",
    "kind",
    "occurred_at",
    "actor",
    "recipient",
    "package_kind",
    "status_code",
    "description",
    "reason_code",
    "content_digest",
    "source_topic",
    "source_partition",
    "source_offset",
    "events_topic",
    "events_partition",
    "events_offset",
    "prev_hash",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("hashed timestamps must be UTC-aware")
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    return value


def row_hash(row: Mapping[str, Any], fields: Sequence[str] = HASHED_FIELDS) -> str:
    """The SHA-256 (hex) of one row's hashed ``fields``, ``prev_hash`` included."""
    content = {name: _canonical(row.get(name)) for name in fields}
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of checking one document's chain: ``broken_at`` is the first bad step."""

    document_id: str
    length: int
    broken_at: int | None = None
    why: str = ""

    @property
    def intact(self) -> bool:
        """Whether every row chains to its predecessor and matches its own hash."""
        return self.broken_at is None


def verify_chain(
    document_id: str,
    rows: Iterable[Mapping[str, Any]],
    fields: Sequence[str] = HASHED_FIELDS,
) -> ChainCheck:
    """Check rows of one document, in sequence order, against their hashes.

    A row is bad when its sequence number skips (a row deleted or inserted), its
    ``prev_hash`` is not the previous row's ``row_hash``, or its ``row_hash`` is not
    the hash of its content.
    """
    expected_prev = GENESIS
    count = 0
    for expected_sequence, row in enumerate(rows, start=1):
        count = expected_sequence
        sequence = int(row["sequence"])
        if sequence != expected_sequence:
            return ChainCheck(document_id, count, sequence, f"step {expected_sequence} is missing")
        if row["prev_hash"] != expected_prev:
            return ChainCheck(
                document_id, count, sequence, "does not point at the previous step's hash"
            )
        if row_hash(row, fields) != row["row_hash"]:
            return ChainCheck(
                document_id, count, sequence, "content does not match its stored hash"
            )
        expected_prev = str(row["row_hash"])
    return ChainCheck(document_id, count)
