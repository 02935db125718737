"""The transport: topics, events, the router and tracker services, the tracker's store,
the auditor's replay, logs and metrics, and the embedded broker.

Layers above (``agency_client``, ``cli``) import only the names exported here.
"""

from bus.audit import ReplayWindow, read_trail_file, run_replay
from bus.directory import (
    Agency,
    AgencyDirectory,
    DirectoryFollower,
    certificate_fingerprints,
    publish_agency,
    reinstate_agency,
    suspend_agency,
)
from bus.embedded import EmbeddedStack, running_bus
from bus.errors import BusError
from bus.kafka import make_consumer, make_producer, translate_errors
from bus.logs import configure_logging, get_logger
from bus.metrics import start_metrics_server
from bus.records import Header, content_digest, decode_headers, encode_headers
from bus.router import run_router
from bus.settings import Settings, load_settings
from bus.sql import (
    Adoption,
    UtcDateTime,
    create_store_engine,
    database_errors,
    run_environment,
    run_migrations,
)
from bus.store import (
    DocumentStatus,
    TrackedDocument,
    TrackFilter,
    Trail,
    document_status,
    document_trail,
    track,
)
from bus.tlog import (
    CONSISTENCY_FROM_HEADER,
    CONSISTENCY_PROOF_HEADER,
    LeafProof,
    LeafRecord,
    LogSettings,
    NoCheckpointError,
    StoredCheckpoint,
    audit_log,
    checkpoint_now,
    consistency_between,
    export_evidence,
    log_store,
    prove_document,
    prove_leaf,
    run_log,
    verify_evidence,
)
from bus.topics import ensure_topics
from bus.tracker import run_tracker
from bus.verification import PackageReader, make_reader, make_verifier

__all__ = [
    "CONSISTENCY_FROM_HEADER",
    "CONSISTENCY_PROOF_HEADER",
    "Adoption",
    "Agency",
    "AgencyDirectory",
    "BusError",
    "DirectoryFollower",
    "DocumentStatus",
    "EmbeddedStack",
    "Header",
    "LeafProof",
    "LeafRecord",
    "LogSettings",
    "NoCheckpointError",
    "PackageReader",
    "ReplayWindow",
    "Settings",
    "StoredCheckpoint",
    "TrackFilter",
    "TrackedDocument",
    "Trail",
    "UtcDateTime",
    "audit_log",
    "certificate_fingerprints",
    "checkpoint_now",
    "configure_logging",
    "consistency_between",
    "content_digest",
    "create_store_engine",
    "database_errors",
    "decode_headers",
    "document_status",
    "document_trail",
    "encode_headers",
    "ensure_topics",
    "export_evidence",
    "get_logger",
    "load_settings",
    "log_store",
    "make_consumer",
    "make_producer",
    "make_reader",
    "make_verifier",
    "prove_document",
    "prove_leaf",
    "publish_agency",
    "read_trail_file",
    "reinstate_agency",
    "run_environment",
    "run_log",
    "run_migrations",
    "run_replay",
    "run_router",
    "run_tracker",
    "running_bus",
    "start_metrics_server",
    "suspend_agency",
    "track",
    "translate_errors",
    "verify_evidence",
]
