"""The gateway's ids: per-recipient receiver ids, the same on every gateway.

A receiver's ``docId`` is derived from what identifies one delivery (recipient,
message type, sender, DocumentId, package digest), so a record read twice gets the
same id (stored once), and a sender's gateway can name the receiver ids of its
deliveries without asking the receivers' gateways.
"""

from __future__ import annotations

import uuid

__all__ = ["new_doc_id", "receiver_doc_id"]

_NAMESPACE = uuid.UUID("4f1f5a0e-6c43-5d1e-9a55-6564786777ee")


def receiver_doc_id(
    recipient: str, message_type: str, sender: str, document_id: str, digest: str
) -> str:
    """The ``docId`` of one delivery, as the recipient's system sees it."""
    name = "\x1f".join((recipient, message_type, sender, document_id, digest))
    return str(uuid.uuid5(_NAMESPACE, name))


def new_doc_id() -> str:
    """A fresh sender-side ``DocId`` (a UUID: opaque and safe as a file name)."""
    return str(uuid.uuid4())
