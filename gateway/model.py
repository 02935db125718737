"""Values the gateway's operations answer with (both APIs render them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["Accepted", "Delivery", "InboxEntry", "TransportState"]


class TransportState(StrEnum):
    """A delivery's transport state at the gateway (the hub's queue level)."""

    INITIAL = "initial"
    PROCESSING = "processing"
    DONE = "done"
    FAIL = "fail"

    @property
    def listed(self) -> bool:
        """Whether items in this state are still listed and counted."""
        return self in (TransportState.INITIAL, TransportState.PROCESSING)

    @property
    def description(self) -> str:
        """The state in Vietnamese, as the hub's lists show it."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    TransportState.INITIAL: "Chờ nhận",
    TransportState.PROCESSING: "Đang xử lý",
    TransportState.DONE: "Đã nhận",
    TransportState.FAIL: "Nhận lỗi",
}


@dataclass(frozen=True)
class Accepted:
    """A package the gateway accepted: it is on disk, published or about to be."""

    doc_id: str
    document_id: str
    message_type: str
    sender: str
    recipients: tuple[str, ...]
    repeated: bool = False
    signed_here: bool = False
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboxEntry:
    """One package waiting for (or taken by) a system."""

    doc_id: str
    agency: str
    message_type: str
    sender: str
    document_id: str
    status_code: str | None
    digest: str
    state: TransportState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One recipient's row of a sent message (``getSentEdocList``)."""

    sender_doc_id: str
    receiver_doc_id: str
    from_code: str
    to_code: str
    send_status: str
    send_status_desc: str
    receive_status: str
    receive_status_desc: str
    title: str
    notation: str
    message_type: str
    service_type: str
    sent_time: datetime | None
    received_time: datetime | None
