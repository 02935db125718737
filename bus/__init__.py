"""The transport: topics, events, the router and tracker services, the tracker's store,
the auditor's replay, logs and metrics, and the embedded broker.

Layers above (``agency_client``, ``cli``) import only the names exported here.
"""

from bus.acceptance import AcceptanceStore, Accepted
from bus.audit import ReplayReport, ReplayWindow, read_trail_file, run_replay, write_trail_file
from bus.directory import (
    Agency,
    AgencyDirectory,
    AgencyState,
    DirectoryFollower,
    certificate_fingerprints,
    load_directory,
    publish_agency,
    reinstate_agency,
    suspend_agency,
)
from bus.embedded import EmbeddedBroker, find_broker_binary
from bus.embedded_stack import EmbeddedStack, running_bus
from bus.errors import BusError
from bus.events import AGENCY_RECORD, LIFECYCLE_EVENT, AvroCodec
from bus.kafka import (
    BrokerFeatures,
    make_admin,
    make_consumer,
    make_producer,
    probe_features,
    started,
    translate_errors,
)
from bus.logs import configure_logging, get_logger, log_context
from bus.metrics import start_metrics_server
from bus.records import Header, content_digest, decode_headers, encode_headers
from bus.router import Router, RouterStats, run_router
from bus.settings import Settings, TopicNames, load_settings
from bus.store import (
    DocumentStatus,
    TrackedDocument,
    TrackFilter,
    Trail,
    create_store_engine,
    document_status,
    document_trail,
    track,
)
from bus.tlog import (
    CONSISTENCY_FROM_HEADER,
    CONSISTENCY_PROOF_HEADER,
    TIMESTAMP_HEADER,
    LeafProof,
    LeafRecord,
    LogError,
    LogService,
    LogSettings,
    NoCheckpointError,
    StoredCheckpoint,
    checkpoint_now,
    consistency_between,
    log_store,
    prove_document,
    prove_leaf,
    run_log,
)
from bus.topics import ensure_checkpoint_topic, ensure_inbox, ensure_topics
from bus.tracker import Tracker, run_tracker
from bus.verification import make_verifier

__all__ = [
    "AGENCY_RECORD",
    "CONSISTENCY_FROM_HEADER",
    "CONSISTENCY_PROOF_HEADER",
    "LIFECYCLE_EVENT",
    "TIMESTAMP_HEADER",
    "AcceptanceStore",
    "Accepted",
    "Agency",
    "AgencyDirectory",
    "AgencyState",
    "AvroCodec",
    "BrokerFeatures",
    "BusError",
    "DirectoryFollower",
    "DocumentStatus",
    "EmbeddedBroker",
    "EmbeddedStack",
    "Header",
    "LeafProof",
    "LeafRecord",
    "LogError",
    "LogService",
    "LogSettings",
    "NoCheckpointError",
    "ReplayReport",
    "ReplayWindow",
    "Router",
    "RouterStats",
    "Settings",
    "StoredCheckpoint",
    "TopicNames",
    "TrackFilter",
    "TrackedDocument",
    "Tracker",
    "Trail",
    "certificate_fingerprints",
    "checkpoint_now",
    "configure_logging",
    "consistency_between",
    "content_digest",
    "create_store_engine",
    "decode_headers",
    "document_status",
    "document_trail",
    "encode_headers",
    "ensure_checkpoint_topic",
    "ensure_inbox",
    "ensure_topics",
    "find_broker_binary",
    "get_logger",
    "load_directory",
    "load_settings",
    "log_context",
    "log_store",
    "make_admin",
    "make_consumer",
    "make_producer",
    "make_verifier",
    "probe_features",
    "prove_document",
    "prove_leaf",
    "publish_agency",
    "read_trail_file",
    "reinstate_agency",
    "run_log",
    "run_replay",
    "run_router",
    "run_tracker",
    "running_bus",
    "start_metrics_server",
    "started",
    "suspend_agency",
    "track",
    "translate_errors",
    "write_trail_file",
]
