"""The transport: topics, events, the router and tracker services, the broker launcher."""

from bus.acceptance import AcceptanceStore, Accepted
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
from bus.records import Header, content_digest, decode_headers, encode_headers
from bus.router import Router, RouterStats, run_router
from bus.settings import Settings, TopicNames, load_settings
from bus.topics import ensure_inbox, ensure_topics

__all__ = [
    "AGENCY_RECORD",
    "LIFECYCLE_EVENT",
    "AcceptanceStore",
    "Accepted",
    "Agency",
    "AgencyDirectory",
    "AgencyState",
    "AvroCodec",
    "BrokerFeatures",
    "BusError",
    "DirectoryFollower",
    "EmbeddedBroker",
    "Header",
    "Router",
    "RouterStats",
    "Settings",
    "TopicNames",
    "certificate_fingerprints",
    "content_digest",
    "decode_headers",
    "encode_headers",
    "ensure_inbox",
    "ensure_topics",
    "find_broker_binary",
    "load_directory",
    "load_settings",
    "make_admin",
    "make_consumer",
    "make_producer",
    "probe_features",
    "publish_agency",
    "reinstate_agency",
    "run_router",
    "started",
    "suspend_agency",
    "translate_errors",
]
