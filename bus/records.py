"""Kafka record headers of the bus (DESIGN.md §2).

Headers carry routing metadata only: nothing in a header is trusted without the
signed body. Keys on ``edx.submit``, inboxes and ``edx.deadletter`` are the
sender's agency code; on ``edx.events`` the document id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from enum import StrEnum

__all__ = ["Header", "content_digest", "decode_headers", "encode_headers"]


class Header(StrEnum):
    """Names of the record headers edxbus writes."""

    KIND = "edx-kind"  # "document" or "status"
    DOCUMENT_ID = "edx-document-id"  # the DocumentId (status: the one it answers)
    SENDER = "edx-sender"  # From/OrganId as claimed (verified by the router)
    DIGEST = "edx-digest"  # SHA-256 hex of the value
    REASON_CODE = "edx-reason-code"  # dead-letter: the stable reason code
    REASON = "edx-reason"  # dead-letter: the reason in words
    SOURCE = "edx-source"  # dead-letter and inbox: "topic/partition/offset" submitted
    SIZE = "edx-size"  # dead-letter: bytes of the refused record (kept when its body is not)


def content_digest(data: bytes) -> str:
    """SHA-256 of a package's bytes, hex: the identity of 'the same bytes'."""
    return hashlib.sha256(data).hexdigest()


def encode_headers(values: Mapping[Header, str]) -> list[tuple[str, bytes]]:
    """Headers as aiokafka takes them; UTF-8 values, ``None`` values left out."""
    return [(str(name), value.encode("utf-8")) for name, value in values.items()]


def decode_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers as aiokafka returns them, decoded to text (undecodable bytes replaced;
    a null value, which the protocol allows and any client may send, reads as '')."""
    return {
        name: value.decode("utf-8", "replace") if value is not None else ""
        for name, value in headers or ()
    }
