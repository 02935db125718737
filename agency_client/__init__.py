"""The SDK for agencies' office software: send, receive and report on documents."""

from agency_client.errors import (
    ClientError,
    ClientNotStartedError,
    DeliveryTimeoutError,
    DuplicateDocumentError,
    NotAuthorisedError,
    OutboxError,
    StatusNotAllowedError,
    SubmissionRejectedError,
    UnknownDocumentError,
)
from agency_client.outbox import Outbox, OutboxEntry, OutboxState, PackageKind, RecipientStatus

__all__ = [
    "ClientError",
    "ClientNotStartedError",
    "DeliveryTimeoutError",
    "DuplicateDocumentError",
    "NotAuthorisedError",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "OutboxState",
    "PackageKind",
    "RecipientStatus",
    "StatusNotAllowedError",
    "SubmissionRejectedError",
    "UnknownDocumentError",
]
