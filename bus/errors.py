"""Errors of the transport layer: the ``BusError`` branch of the tree in ``edxml.errors``.

::

    BusError (.retriable)
    ├── ConfigError                  settings that cannot be used
    ├── BrokerError                  the Kafka side
    │   ├── BrokerUnavailableError       cannot reach the brokers (retriable)
    │   ├── BrokerBinaryMissingError     the embedded Tansu binary is not installed
    │   └── TopicError                   a topic cannot be created or has the wrong settings
    ├── DatabaseError                the tracker's SQL side
    │   ├── DatabaseUnavailableError     cannot reach the database (retriable)
    │   └── DatabaseNotReadyError        the database has no tracker tables yet
    ├── UnknownDocumentError         the tracker has no record of a document (.document_id)
    ├── EventDecodeError             an edx.events record that does not decode (quarantined)
    ├── RoutingRefusal               the router refuses a package; goes to edx.deadletter
    │   ├── UnknownAgencyError           sender or recipient not in the directory (.agency)
    │   ├── InactiveAgencyError          sender or recipient suspended (.agency)
    │   ├── ReplayError                  other bytes under a DocumentId already accepted
    │   ├── CertificateNotListedError    signed with a certificate the directory does not list
    │   ├── UnauthorizedStatusError      a status from an agency not party to the document
    │   └── UnreadableRecordError        a record the broker hands over corrupt (.topic, .offset)
    └── AuditError                   the audit trail does not hold
        ├── HashChainBrokenError         a history row does not chain to its predecessor
        └── TrailFileError               an exported trail file cannot be read

Driver errors (aiokafka, SQLAlchemy) are translated into these at the ``bus``
boundary, so no caller above ``bus`` ever sees a driver exception.
"""

from __future__ import annotations

from edxml.errors import BusError

__all__ = [
    "AuditError",
    "BrokerBinaryMissingError",
    "BrokerError",
    "BrokerUnavailableError",
    "BusError",
    "CertificateNotListedError",
    "ConfigError",
    "DatabaseError",
    "DatabaseNotReadyError",
    "DatabaseUnavailableError",
    "EventDecodeError",
    "HashChainBrokenError",
    "InactiveAgencyError",
    "ReplayError",
    "RoutingRefusal",
    "TopicError",
    "TrailFileError",
    "UnauthorizedStatusError",
    "UnknownAgencyError",
    "UnknownDocumentError",
    "UnreadableRecordError",
]


class ConfigError(BusError, ValueError):
    """A setting has a value that cannot be used."""

    reason_code = "config-error"


class BrokerError(BusError):
    """The Kafka side failed."""

    reason_code = "broker-error"


class BrokerUnavailableError(BrokerError, ConnectionError):
    """The brokers cannot be reached; trying again later may help."""

    reason_code = "broker-unavailable"
    retriable = True


class BrokerBinaryMissingError(BrokerError, FileNotFoundError):
    """The embedded Tansu broker binary is not installed."""

    reason_code = "broker-binary-missing"


class TopicError(BrokerError):
    """A topic cannot be created, or exists with settings edxbus cannot use."""

    reason_code = "topic-error"


class DatabaseError(BusError):
    """The tracker's database failed."""

    reason_code = "database-error"


class DatabaseUnavailableError(DatabaseError, ConnectionError):
    """The database cannot be reached; the tracker waits and retries."""

    reason_code = "database-unavailable"
    retriable = True


class DatabaseNotReadyError(DatabaseError):
    """The database exists but holds no tracker tables (the tracker never ran on it)."""

    reason_code = "database-not-ready"


class UnknownDocumentError(BusError, LookupError):
    """The tracker has no record of this document."""

    reason_code = "unknown-document"

    def __init__(self, document_id: str) -> None:
        super().__init__(f"the tracker has no record of document {document_id}")
        self.document_id = document_id


class EventDecodeError(BusError, ValueError):
    """A record on ``edx.events`` does not decode with any known schema."""

    reason_code = "event-decode-error"


class RoutingRefusal(BusError):
    """The router refuses a package: it goes to ``edx.deadletter`` with this reason."""

    reason_code = "routing-refused"


class UnknownAgencyError(RoutingRefusal, LookupError):
    """An agency code is not in the directory."""

    reason_code = "unknown-agency"

    def __init__(self, agency: str, role: str = "agency") -> None:
        super().__init__(f"{role} {agency} is not in the agency directory")
        self.agency = agency
        self.role = role


class InactiveAgencyError(RoutingRefusal):
    """An agency is in the directory but suspended."""

    reason_code = "inactive-agency"

    def __init__(self, agency: str, role: str = "agency") -> None:
        super().__init__(f"{role} {agency} is suspended")
        self.agency = agency
        self.role = role


class ReplayError(RoutingRefusal):
    """Different bytes under a DocumentId already accepted from the same sender."""

    reason_code = "replay"

    def __init__(self, document_id: str, sender: str) -> None:
        super().__init__(
            f"document {document_id} from {sender} was already accepted with other content"
        )
        self.document_id = document_id
        self.sender = sender


class CertificateNotListedError(RoutingRefusal):
    """The signature holds, but with a certificate the directory does not list for the sender."""

    reason_code = "certificate-not-listed"

    def __init__(self, agency: str, fingerprint: str) -> None:
        super().__init__(
            f"{agency} signed with certificate {fingerprint[:16]}..., "
            "which the agency directory does not list for it"
        )
        self.agency = agency
        self.fingerprint = fingerprint


class UnauthorizedStatusError(RoutingRefusal):
    """A status package from an agency that is not party to the document it answers."""

    reason_code = "unauthorized-status"

    def __init__(self, agency: str, document_id: str, why: str = "") -> None:
        super().__init__(
            f"{agency} may not report status on document {document_id}"
            + (f": {why}" if why else "")
        )
        self.agency = agency
        self.document_id = document_id


class AuditError(BusError):
    """The audit trail does not hold."""

    reason_code = "audit-error"


class HashChainBrokenError(AuditError):
    """A history row's stored hash does not match its predecessor."""

    reason_code = "hash-chain-broken"

    def __init__(self, document_id: str, sequence: int) -> None:
        super().__init__(
            f"history of document {document_id} is broken at step {sequence}: "
            "the row does not chain to the one before it"
        )
        self.document_id = document_id
        self.sequence = sequence


class TrailFileError(AuditError, ValueError):
    """An exported trail file is not a readable edxbus audit trail."""

    reason_code = "trail-file-error"


class UnreadableRecordError(RoutingRefusal):
    """A record of ``edx.submit`` that cannot be read at all (its batch fails its CRC).

    Nothing of it can be trusted, not even its key: it goes to ``edx.deadletter``
    as coordinates only, and routing moves past it.
    """

    reason_code = "unreadable-record"

    def __init__(self, topic: str, partition: int, offset: int, why: str) -> None:
        super().__init__(f"the record at {topic}/{partition}/{offset} cannot be read: {why}")
        self.topic = topic
        self.partition = partition
        self.offset = offset
