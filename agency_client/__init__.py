"""The SDK for agencies' office software: send, receive and report on documents.

``AgencyClient`` (async) and ``BlockingAgencyClient`` (for software that is not
async) act as one agency: they sign with its key, keep what it sends in a
durable outbox until every recipient's 01 came back, hand over verified packages
from its inbox exactly once, and answer 01 automatically. See
docs/AGENCY_INTEGRATION.md.
"""

from agency_client._follow_ups import carried_over, free_notation
from agency_client._inbox_store import QuarantinedPackage
from agency_client.checkpoints import CheckpointWatcher, LogRewrittenError, WatchedCheckpoint
from agency_client.clerk import SendOutcome, read_inbox, report_status, send_document
from agency_client.client import REPORTABLE_STATUSES, AgencyClient
from agency_client.errors import (
    ClientError,
    ClientNotStartedError,
    ClientSettingError,
    DeliveryTimeoutError,
    DuplicateDocumentError,
    NotAuthorisedError,
    OutboxError,
    StatusNotAllowedError,
    SubmissionRejectedError,
    UnknownDocumentError,
)
from agency_client.inbox import Inbox
from agency_client.items import InboxItem, IncomingDocument, IncomingStatus, RejectionNotice
from agency_client.outbox import Outbox, OutboxEntry, OutboxState, PackageKind, RecipientStatus
from agency_client.sync import BlockingAgencyClient
from agency_client.tuning import ClientTuning

__all__ = [
    "REPORTABLE_STATUSES",
    "AgencyClient",
    "BlockingAgencyClient",
    "CheckpointWatcher",
    "ClientError",
    "ClientNotStartedError",
    "ClientSettingError",
    "ClientTuning",
    "DeliveryTimeoutError",
    "DuplicateDocumentError",
    "Inbox",
    "InboxItem",
    "IncomingDocument",
    "IncomingStatus",
    "LogRewrittenError",
    "NotAuthorisedError",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "OutboxState",
    "PackageKind",
    "QuarantinedPackage",
    "RecipientStatus",
    "RejectionNotice",
    "SendOutcome",
    "StatusNotAllowedError",
    "SubmissionRejectedError",
    "UnknownDocumentError",
    "WatchedCheckpoint",
    "carried_over",
    "free_notation",
    "read_inbox",
    "report_status",
    "send_document",
]
