"""The transparency log: router decisions as Merkle leaves, signed and time-stamped checkpoints.

The pure parts (hashing, proofs, notes, checkpoints, time-stamp tokens) live in
``signing``; this package reads ``edx.events``, keeps the leaves in SQL and
publishes checkpoints (see docs/AUDIT.md).
"""

from bus.tlog.audit import FindingKind, LogAudit, LogFinding, audit_log
from bus.tlog.errors import (
    EvidenceError,
    EvidenceFormatError,
    LogError,
    NoCheckpointError,
    TimestampUnavailableError,
)
from bus.tlog.evidence import BUNDLE_FORMAT, ExportedBundle, export_evidence
from bus.tlog.evidence_check import BundleCheck, BundleReport, verify_evidence
from bus.tlog.leaf import LEAF_VERSION, Coordinates, Decision, LeafRecord, leaf_from_event
from bus.tlog.migrate import upgrade
from bus.tlog.proofs import (
    ConsistencyAnswer,
    LeafProof,
    checked_checkpoint,
    consistency_between,
    log_store,
    prove_document,
    prove_leaf,
    prove_leaves,
)
from bus.tlog.service import (
    CONSISTENCY_FROM_HEADER,
    CONSISTENCY_PROOF_HEADER,
    TIMESTAMP_HEADER,
    LogService,
    LogStats,
    checkpoint_now,
    make_checkpoint,
    run_log,
)
from bus.tlog.settings import LogSettings
from bus.tlog.store import AppendResult, LogStore, StoredCheckpoint, StoredLeaf
from bus.tlog.tsa_http import TsaServer, fetch_timestamp

__all__ = [
    "BUNDLE_FORMAT",
    "CONSISTENCY_FROM_HEADER",
    "CONSISTENCY_PROOF_HEADER",
    "LEAF_VERSION",
    "TIMESTAMP_HEADER",
    "AppendResult",
    "BundleCheck",
    "BundleReport",
    "ConsistencyAnswer",
    "Coordinates",
    "Decision",
    "EvidenceError",
    "EvidenceFormatError",
    "ExportedBundle",
    "FindingKind",
    "LeafProof",
    "LeafRecord",
    "LogAudit",
    "LogError",
    "LogFinding",
    "LogService",
    "LogSettings",
    "LogStats",
    "LogStore",
    "NoCheckpointError",
    "StoredCheckpoint",
    "StoredLeaf",
    "TimestampUnavailableError",
    "TsaServer",
    "audit_log",
    "checked_checkpoint",
    "checkpoint_now",
    "consistency_between",
    "export_evidence",
    "fetch_timestamp",
    "leaf_from_event",
    "log_store",
    "make_checkpoint",
    "prove_document",
    "prove_leaf",
    "prove_leaves",
    "run_log",
    "upgrade",
    "verify_evidence",
]
