"""Errors of the agency SDK: the ``ClientError`` branch of the tree in ``edxml.errors``.

::

    ClientError
    ├── SubmissionRejectedError      the router refused a package (.reason_code from the
    │                                router, .reason, .document_id); it sits in edx.deadletter
    ├── DeliveryTimeoutError         not every recipient answered 01 in time
    │                                (.document_id, .waited, .missing) — also a TimeoutError
    ├── OutboxError                  the local outbox or inbox store cannot be read or written
    ├── DuplicateDocumentError       a DocumentId already sent with other bytes (.document_id)
    ├── NotAuthorisedError           the client cannot act as this agency (no key, or a
    │                                certificate that names another agency) (.agency)
    ├── UnknownDocumentError         a report, take-back or revocation names a document this
    │                                agency never received or sent (.document_id) — LookupError
    ├── StatusNotAllowedError        a status code the caller may not send by hand (.status)
    ├── ClientNotStartedError        the client is used outside ``async with`` / start()
    └── ClientSettingError           a client tuning value out of range (.name) — ValueError

Errors raised by the layers below (``EdxmlError`` for a malformed document,
``SigningError`` for a key that will not sign, ``BusError`` for a broker that will
not answer) reach the caller unchanged: they are already named and carry their
own ``reason_code``. One exception: once a package is in the outbox, no broker
error reaches the caller of ``send()``/``report()`` (or follow-ups): the package is
safe on disk, the call returns, and the re-submitter publishes it later.
``BusError`` comes from ``start()`` (without ``connect_later``) and the queries.
"""

from __future__ import annotations

from collections.abc import Sequence

from edxml.errors import ClientError

__all__ = [
    "ClientError",
    "ClientNotStartedError",
    "ClientSettingError",
    "DeliveryTimeoutError",
    "DuplicateDocumentError",
    "NotAuthorisedError",
    "OutboxError",
    "StatusNotAllowedError",
    "SubmissionRejectedError",
    "UnknownDocumentError",
]


class SubmissionRejectedError(ClientError):
    """The router refused a package this agency submitted.

    ``reason_code`` is the router's own stable code (e.g. ``digest-mismatch``,
    ``unknown-agency``, ``replay``), so a caller can tell the refusals apart.
    """

    reason_code = "submission-rejected"

    def __init__(self, reason_code: str, reason: str, document_id: str = "") -> None:
        where = f"document {document_id} " if document_id else "package "
        super().__init__(f"{where}was refused by the bus: {reason}")
        self.reason_code = reason_code  # type: ignore[misc]  # the router's code, per instance
        self.reason = reason
        self.document_id = document_id


class DeliveryTimeoutError(ClientError, TimeoutError):
    """Not every recipient returned status 01 within the time the caller allowed.

    The package stays in the outbox and keeps being re-submitted: a timeout is a
    report, not a loss.
    """

    reason_code = "delivery-timeout"

    def __init__(self, document_id: str, waited: float, missing: Sequence[str]) -> None:
        super().__init__(
            f"document {document_id}: after {waited:.1f}s no arrival (01) yet from "
            f"{', '.join(missing)}; it stays in the outbox and will be re-submitted"
        )
        self.document_id = document_id
        self.waited = waited
        self.missing = tuple(missing)


class OutboxError(ClientError, OSError):
    """The local outbox (or inbox store) cannot be opened, read or written."""

    reason_code = "outbox-error"


class DuplicateDocumentError(ClientError, ValueError):
    """The outbox already holds this DocumentId with other bytes.

    The router would refuse the new bytes as a replay; the client refuses them
    first, before anything leaves the agency. A revision is a new package
    (``update``/``replace``) with its own DocumentId.
    """

    reason_code = "duplicate-document-id"

    def __init__(self, document_id: str) -> None:
        super().__init__(
            f"document {document_id} was already sent with other content; "
            "send an update or a replacement under a new number instead"
        )
        self.document_id = document_id


class NotAuthorisedError(ClientError, PermissionError):
    """The client cannot act as the agency it was asked to act as."""

    reason_code = "not-authorised"

    def __init__(self, agency: str, why: str) -> None:
        super().__init__(f"cannot act as agency {agency}: {why}")
        self.agency = agency


class UnknownDocumentError(ClientError, LookupError):
    """The document named was neither received nor sent by this agency."""

    reason_code = "unknown-document"

    def __init__(self, document_id: str, why: str = "") -> None:
        super().__init__(
            f"document {document_id} is not known to this agency" + (f" ({why})" if why else "")
        )
        self.document_id = document_id


class StatusNotAllowedError(ClientError, ValueError):
    """A status code that may not be sent this way (01 is automatic, 13 is take_back)."""

    reason_code = "status-not-allowed"

    def __init__(self, status: str, why: str) -> None:
        super().__init__(f"status {status} cannot be reported here: {why}")
        self.status = status


class ClientNotStartedError(ClientError, RuntimeError):
    """The client was used before ``start()`` (or outside ``async with``)."""

    reason_code = "client-not-started"


class ClientSettingError(ClientError, ValueError):
    """A client tuning value (``ClientTuning`` or an ``EDX_CLIENT_*`` variable) is not valid."""

    reason_code = "client-setting"

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"client setting {name}: {why}")
        self.name = name
