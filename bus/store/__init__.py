"""The tracker's SQL store: schema, engine, migrations, idempotent ingest and queries.

SQLite (WAL) is the embedded default, PostgreSQL the production database; both are
reached through SQLAlchemy 2 and every driver error leaves this package as a
:class:`~bus.errors.DatabaseError`.
"""

from bus.store.chain import GENESIS, ChainCheck, row_hash, verify_chain
from bus.store.engine import create_store_engine, redact
from bus.store.migrate import (
    current_revision,
    head_revision,
    run_environment,
    run_migrations,
    upgrade,
)
from bus.store.placement import Placement, place
from bus.store.queries import (
    STATUS_WORDS,
    DocumentStatus,
    LevelCounts,
    QuarantinedRecord,
    RecipientStatus,
    TrackedDocument,
    TrackFilter,
    Trail,
    TrailEntry,
    document_status,
    document_trail,
    quarantined_records,
    status_words,
    track,
)
from bus.store.writes import (
    IncomingRecord,
    IngestResult,
    NameLookup,
    ingest,
    quarantine_records,
    stored_positions,
)

__all__ = [
    "GENESIS",
    "STATUS_WORDS",
    "ChainCheck",
    "DocumentStatus",
    "IncomingRecord",
    "IngestResult",
    "LevelCounts",
    "NameLookup",
    "Placement",
    "QuarantinedRecord",
    "RecipientStatus",
    "TrackFilter",
    "TrackedDocument",
    "Trail",
    "TrailEntry",
    "create_store_engine",
    "current_revision",
    "document_status",
    "document_trail",
    "head_revision",
    "ingest",
    "place",
    "quarantine_records",
    "quarantined_records",
    "redact",
    "row_hash",
    "run_environment",
    "run_migrations",
    "status_words",
    "stored_positions",
    "track",
    "upgrade",
    "verify_chain",
]
