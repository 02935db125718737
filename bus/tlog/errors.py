"""The log service's branch of the ``BusError`` tree (see ``edxml.errors``)::

    BusError                         bus.errors
    └── LogError                     the transparency log cannot answer or publish
        ├── TimestampUnavailableError    the time-stamping authority did not answer (retriable)
        ├── NoCheckpointError            the log has published no checkpoint yet
        └── EvidenceError                an evidence bundle cannot be made
            └── EvidenceFormatError      a file is not an evidence bundle, or a part is unreadable

Proof and signature failures are ``TransparencyError`` (``signing.tlog_errors``):
they are about what was signed, not about transport.
"""

from __future__ import annotations

from edxml.errors import BusError

__all__ = [
    "EvidenceError",
    "EvidenceFormatError",
    "LogError",
    "NoCheckpointError",
    "TimestampUnavailableError",
]


class LogError(BusError):
    """The transparency log cannot answer or publish."""

    reason_code = "log-error"


class TimestampUnavailableError(LogError, ConnectionError):
    """The time-stamping authority did not answer with a granted token."""

    reason_code = "timestamp-unavailable"
    retriable = True


class NoCheckpointError(LogError, LookupError):
    """The log has published no checkpoint yet (or none covering what was asked)."""

    reason_code = "no-checkpoint"


class EvidenceError(LogError):
    """An evidence bundle cannot be made (a package is gone from the log, no checkpoint)."""

    reason_code = "evidence-error"


class EvidenceFormatError(EvidenceError, ValueError):
    """A file is not an edxbus evidence bundle, or one of its parts is unreadable."""

    reason_code = "evidence-format"
