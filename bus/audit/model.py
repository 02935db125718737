"""The values of the auditor's replay: the window, log records, audited packages, the
tracker's steps, trail steps, divergences and the report (shared by every step)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bus.lifecycle import EventKind, PackageKind
from edxml import StatusCode

__all__ = [
    "AUDIT_HASHED_FIELDS",
    "CLOCK_SKEW",
    "AuditStep",
    "AuditedPackage",
    "Divergence",
    "DivergenceKind",
    "LogRecord",
    "ReplayReport",
    "ReplayWindow",
    "TrackedStep",
]

#: How far producer clocks may lag: reading starts this much before ``since``.
CLOCK_SKEW = timedelta(hours=1)
#: Fields of an exported trail step covered by its hash (``row_hash`` excluded).
AUDIT_HASHED_FIELDS: tuple[str, ...] = (
    "document_id",
    "sequence",
    "kind",
    "occurred_at",
    "actor",
    "recipients",
    "status_code",
    "description",
    "content_digest",
    "source_topic",
    "source_partition",
    "source_offset",
    "verified",
    "reason_code",
    "signer_agency",
    "signer_fingerprint",
    "prev_hash",
)


@dataclass(frozen=True)
class ReplayWindow:
    """Which packages a replay covers: record time in [since, until], and one agency."""

    since: datetime | None = None
    until: datetime | None = None
    agency: str | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("replay window bounds must be UTC-aware")

    def contains(self, at: datetime) -> bool:
        """Whether a record written at ``at`` falls in the window."""
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)


@dataclass(frozen=True)
class LogRecord:
    """One ``edx.submit`` record: coordinates, timestamp, key and the package bytes."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    #: Whether ``timestamp`` is the broker's (LogAppendTime), not a time the producer chose.
    broker_timed: bool = False
    #: The time the package is verified at: the broker's, else the time-stamp of the first
    #: checkpoint whose tree holds its leaf; ``None`` when neither exists (then the
    #: producer's ``timestamp`` is all there is, and the replay says so).
    trusted_time: datetime | None = None

    @property
    def verify_at(self) -> datetime:
        """The time the package's signature, chain and revocation are judged at."""
        return self.trusted_time or self.timestamp

    @property
    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


#: The trail step each kind of package is.
_STEPS = {PackageKind.DOCUMENT: EventKind.SUBMITTED, PackageKind.STATUS: EventKind.STATUS}


@dataclass(frozen=True)
class AuditedPackage:
    """A log record re-verified and read: what was signed, by whom, about what.

    ``verified`` is the read path's verdict (:class:`bus.PackageReader`, the router's);
    a refused package keeps the reason code the router gave it, and the fields read of
    it (for the report only) are trusted by nothing.
    """

    record: LogRecord
    content_digest: str
    verified: bool
    #: A document package, a status package, or UNKNOWN when no reading of it names one.
    kind: PackageKind
    document_id: str | None = None
    actor: str | None = None
    recipients: tuple[str, ...] = ()
    status_code: StatusCode | None = None
    description: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    signer_agency: str | None = None
    signer_fingerprint: str | None = None

    @property
    def step(self) -> EventKind | None:
        """The trail step this package is (SUBMITTED or STATUS); None when unreadable."""
        return _STEPS.get(self.kind)

    @property
    def on_trail(self) -> bool:
        """Whether the package is a step of a document's trail (it names the document)."""
        return bool(self.document_id) and self.step is not None

    def involves(self, agency: str | None) -> bool:
        """Whether ``agency`` sent this package or is among its recipients."""
        return agency is None or agency == self.actor or agency in self.recipients


@dataclass(frozen=True)
class TrackedStep:
    """One step of the tracker's history that names an ``edx.submit`` record.

    Held as the tracker's table holds it: an edited row may say anything, so its kind
    and status code stay text here, compared with the enums, never trusted.
    """

    document_id: str
    kind: str
    actor: str
    recipient: str | None
    status_code: str | None
    reason_code: str | None
    content_digest: str
    source_partition: int
    source_offset: int
    events_topic: str
    events_partition: int
    events_offset: int

    @property
    def refusal(self) -> bool:
        """Whether the step is the router's refusal (no delivery, no accepted step)."""
        return self.kind == EventKind.REJECTED

    @property
    def events_coordinates(self) -> str:
        return f"{self.events_topic}/{self.events_partition}/{self.events_offset}"


@dataclass(frozen=True)
class AuditStep:
    """One step of a rebuilt trail, hash-chained (the Avro export's record)."""

    document_id: str
    sequence: int
    kind: EventKind
    occurred_at: datetime
    actor: str
    recipients: tuple[str, ...]
    status_code: StatusCode | None
    description: str | None
    content_digest: str
    source_topic: str
    source_partition: int
    source_offset: int
    verified: bool
    reason_code: str | None
    signer_agency: str | None
    signer_fingerprint: str | None
    prev_hash: str
    row_hash: str

    def as_row(self) -> dict[str, Any]:
        """The step as the exported record (``audit_trail.v1``) and its hash read it."""
        row = asdict(self)
        row["kind"] = self.kind.value
        row["recipients"] = list(self.recipients)
        row["status_code"] = None if self.status_code is None else self.status_code.value
        return row


class DivergenceKind(StrEnum):
    """How the tracker and the log disagree."""

    MISSING = "missing"
    EXTRA = "extra"
    ALTERED = "altered"
    UNVERIFIED = "unverified"
    #: A decision the tracker records that the transparency log read but holds no leaf of.
    UNLOGGED = "unlogged"
    #: The transparency log disagrees with itself, its checkpoints or Kafka (``edx log
    #: audit``'s finding, named in brackets).
    LOG = "log"


@dataclass(frozen=True)
class Divergence:
    """One disagreement between the log and the tracker."""

    kind: DivergenceKind
    document_id: str
    what: str
    recipient: str | None = None
    coordinates: str | None = None


@dataclass(frozen=True)
class ReplayReport:
    """What a replay read, verified and found."""

    window: ReplayWindow
    records_read: int
    packages: int
    verified: int
    unverified: int
    documents: int
    trail_steps: int
    divergences: tuple[Divergence, ...]
    seconds: float
    unverified_reasons: dict[str, int] = field(default_factory=dict)
    #: Packages verified at a time their producer chose: the broker keeps producers'
    #: times (no LogAppendTime, e.g. Tansu) and no time-stamped checkpoint holds their
    #: leaf, so nothing better was on the record.
    producer_timed: int = 0
    #: Packages the router refused, by the reason code the tracker records.
    refusals: dict[str, int] = field(default_factory=dict)
    #: The transparency log: leaves audited, the latest signed checkpoint's size, or why
    #: it was not checked.
    log_leaves: int | None = None
    log_checkpoint: int | None = None
    log_note: str | None = None

    @property
    def clean(self) -> bool:
        """No divergence: the tracker and the log tell the story the packages tell.

        Packages the router refused (a broken signature, a replayed DocumentId, ...) are
        steps of their trail, counted in :attr:`refusals`; one the tracker holds as
        accepted without a valid signature is an ``unverified`` divergence.
        """
        return not self.divergences

    def summary(self) -> str:
        counts: dict[str, int] = defaultdict(int)
        for divergence in self.divergences:
            counts[divergence.kind.value] += 1
        found = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no divergence"
        verdict = "CLEAN" if self.clean else "DIVERGES"
        reasons = "".join(f", {n} {r}" for r, n in sorted(self.unverified_reasons.items()))
        refused = sum(self.refusals.values())
        refusals = (
            f"; {refused} refused by the router ("
            + ", ".join(f"{n} {r}" for r, n in sorted(self.refusals.items()))
            + ")"
            if refused
            else ""
        )
        times = (
            f"; {self.producer_timed} package(s) verified at the producer's time "
            "(no broker time: LogAppendTime not applied; no time-stamped checkpoint "
            "holds it)"
            if self.producer_timed
            else ""
        )
        log = (
            f"; log: {self.log_leaves} leaves, checkpoint of {self.log_checkpoint} checked"
            if self.log_leaves is not None
            else ""
        )
        log += f"; log: {self.log_note}" if self.log_note else ""
        return (
            f"{verdict}: {self.packages} package(s) in the window ({self.verified} verified, "
            f"{self.unverified} not{reasons}), {self.documents} document(s), "
            f"{self.trail_steps} trail step(s){refusals}; {found}{times}{log} [{self.seconds:.1f}s]"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clean"] = self.clean
        return data
