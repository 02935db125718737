"""The native API's JSON shapes (pydantic models, so the OpenAPI document states them)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

__all__ = [
    "AcceptedOut",
    "AckOut",
    "AgencyOut",
    "DeliveryOut",
    "DocumentFields",
    "FollowUpIn",
    "InboxItemOut",
    "Problem",
    "ReportIn",
    "SentOut",
    "StatusOut",
    "TakeBackIn",
]


class Problem(BaseModel):
    """RFC 9457 problem details, with edxbus's stable reason code."""

    type: str = Field(description="A URI naming the problem type (edxbus reason code).")
    title: str
    status: int
    detail: str
    reason_code: str = Field(description="edxbus's stable, kebab-case reason code.")


class AcceptedOut(BaseModel):
    """A package the gateway accepted (kept on disk, then published)."""

    doc_id: str = Field(description="The gateway's id of this message (the hub's DocId).")
    document_id: str
    message_type: str
    sender: str
    recipients: list[str]
    repeated: bool = Field(description="True when this answers a repeat of an earlier request.")
    signed_here: bool
    changes: list[str] = Field(description="What normalisation changed before signing.")


class InboxItemOut(BaseModel):
    """One package for the system's agencies."""

    doc_id: str
    agency: str
    message_type: str
    sender: str
    document_id: str
    status_code: str | None
    digest: str
    state: str
    created_at: datetime
    updated_at: datetime


class AckOut(BaseModel):
    """An item's transport state after an acknowledgement."""

    doc_id: str
    state: str


class DeliveryOut(BaseModel):
    """One recipient of a sent message."""

    recipient: str
    receiver_doc_id: str
    send_status: str
    receive_status: str
    received_at: datetime | None


class StatusOut(BaseModel):
    """A status a recipient reported."""

    recipient: str
    status_code: str
    description: str
    at: datetime


class SentOut(BaseModel):
    """What became of a sent document."""

    doc_id: str
    document_id: str
    deliveries: list[DeliveryOut]
    statuses: list[StatusOut]


class AgencyOut(BaseModel):
    """An agency of the directory."""

    code: str
    name: str
    parent: str | None
    level: int
    active: bool


class DocumentFields(BaseModel):
    """A new document described as fields (the ``document`` part of a multipart send)."""

    sender: str
    recipients: list[str] = Field(min_length=1)
    number: str
    notation: str
    subject: str
    content: str | None = None
    signer_name: str = ""
    signer_position: str = ""
    place: str | None = None
    due_date: date | None = None


class ReportIn(BaseModel):
    """A status to report on a received document."""

    code: str = Field(pattern=r"^(0[2-6]|1[56])$", description="02-06, 15 or 16.")
    description: str = ""


class TakeBackIn(BaseModel):
    """Why a sent document is taken back (status 13)."""

    description: str = ""


class FollowUpIn(BaseModel):
    """A revocation, update or replacement: its reason and the fields that change."""

    reason: str = Field(min_length=1)
    subject: str | None = None
    content: str | None = None
    notation: str | None = None
