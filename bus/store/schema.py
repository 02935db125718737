"""The tracker's tables (SQLAlchemy 2 Core), the single description of the SQL schema.

Alembic migrations under ``migrations/versions`` create exactly these tables; a test
compares the migrated database with this metadata, so the two cannot drift.

- ``documents``: one row per document seen on the bus (who sent it, what it is, its
  due date), placed in the four-level tree by its sender's code.
- ``deliveries``: one row per (document, recipient), with the recipient's level and
  ancestors (so every view cuts by level and subtree), its current status and the
  time of each step.
- ``history``: the append-only event history. Each row holds the hash of the previous
  row of the same document and its own hash (tamper evidence, see docs/AUDIT.md), and
  the Kafka coordinates of both the ``edx.events`` record it came from and the
  ``edx.submit`` record that record describes.
- ``consumer_positions``: the next ``edx.events`` offset per partition, written in
  the same transaction as the rows those records produced.
- ``quarantine``: ``edx.events`` records that do not decode, with their coordinates.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bus.sql import UtcDateTime, position_columns, record_columns
from edxml import StatusCode

__all__ = [
    "METADATA",
    "UtcDateTime",
    "consumer_positions",
    "deliveries",
    "documents",
    "history",
    "quarantine",
]

# Naming convention so that constraint names are stable across backends and migrations.
METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_CODE = 64  # agency codes (field systems use ids longer than the 13-character standard)
_DOC_ID = 255
_DIGEST = 64


def _row_id() -> Column[int]:
    """A 64-bit serial key (SQLite's INTEGER PRIMARY KEY is its 64-bit rowid already)."""
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


documents = Table(
    "documents",
    METADATA,
    Column("document_id", String(_DOC_ID), primary_key=True),
    Column("sender", String(_CODE), nullable=False),
    Column("sender_name", Text),
    Column("sender_level", Integer),
    Column("sender_unit", String(8)),
    Column("package_kind", String(16), nullable=False),
    Column("business_type", String(32)),
    Column("target_document_id", String(_DOC_ID)),
    Column("subject", Text),
    Column("code_number", String(64)),
    Column("code_notation", String(128)),
    Column("due_date", Date),
    Column("content_digest", String(_DIGEST)),
    Column("submitted_at", UtcDateTime),
    Column("rejected_at", UtcDateTime),
    Column("reason_code", String(64)),
    Column("taken_back_at", UtcDateTime),
    *record_columns("source_"),
    Index(None, "sender"),
    Index(None, "submitted_at"),
)

#: Step columns of a delivery, by status code: the first time each step was reported.
#: Keyed by ``StatusCode`` members, which are also their stored text (``"01"`` ...).
STEP_COLUMNS: dict[str, str] = {
    StatusCode.ARRIVED: "arrived_at",
    StatusCode.REFUSED: "refused_at",
    StatusCode.ACCEPTED: "accepted_at",
    StatusCode.ASSIGNED: "assigned_at",
    StatusCode.PROCESSING: "processing_at",
    StatusCode.COMPLETED: "completed_at",
    StatusCode.TAKE_BACK: "take_back_requested_at",
    StatusCode.CHANGE_AGREED: "agreed_at",
    StatusCode.CHANGE_REFUSED: "disagreed_at",
}

deliveries = Table(
    "deliveries",
    METADATA,
    Column("document_id", String(_DOC_ID), primary_key=True),
    Column("recipient", String(_CODE), primary_key=True),
    Column("recipient_name", Text),
    # Placement in the four-level tree, derived from the code (DOMAIN.md §1);
    # NULL for ids outside the standard pattern (test hubs' "vxp.saas.03").
    Column("recipient_level", Integer),
    Column("recipient_unit", String(8)),
    Column("recipient_g3", String(4)),
    Column("recipient_g2", String(4)),
    Column("recipient_g1", String(4)),
    Column("recipient_parent", String(_CODE)),
    Column("sender", String(_CODE), nullable=False),
    Column("listed_at", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("status_code", String(2)),
    Column("status_description", Text),
    Column("status_at", UtcDateTime),
    *(Column(name, UtcDateTime) for name in STEP_COLUMNS.values()),
    *record_columns("source_"),
    Index(None, "recipient"),
    Index(None, "recipient_unit", "recipient_g3", "recipient_g2"),
    Index(None, "sender"),
)

history = Table(
    "history",
    METADATA,
    _row_id(),
    Column("document_id", String(_DOC_ID), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("actor", String(_CODE), nullable=False),
    Column("recipient", String(_CODE)),
    Column("package_kind", String(16), nullable=False),
    Column("status_code", String(2)),
    Column("description", Text),
    Column("reason_code", String(64)),
    Column("content_digest", String(_DIGEST), nullable=False),
    *record_columns("source_", nullable=False),
    *record_columns("events_", nullable=False),
    Column("prev_hash", String(_DIGEST), nullable=False),
    Column("row_hash", String(_DIGEST), nullable=False),
    UniqueConstraint("event_id"),
    UniqueConstraint("document_id", "sequence"),
    Index(None, "source_topic", "source_partition", "source_offset"),
)

consumer_positions = Table(
    "consumer_positions",
    METADATA,
    Column("consumer_group", String(255), primary_key=True),
    *position_columns(),
    Column("updated_at", UtcDateTime, nullable=False),
)

quarantine = Table(
    "quarantine",
    METADATA,
    _row_id(),
    *record_columns(nullable=False),
    Column("record_key", LargeBinary),
    Column("record_value", LargeBinary),
    Column("reason_code", String(64), nullable=False),
    Column("error", Text, nullable=False),
    Column("quarantined_at", UtcDateTime, nullable=False),
    UniqueConstraint("topic", "partition", "offset"),
)
