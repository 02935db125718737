"""The gateway's tables (SQLAlchemy Core), migrated by Alembic (``gateway/store/migrations``).

- ``gw_systems``: office-software installations, their secret and what they are granted.
  The secret must be readable by the HMAC check, so it is stored as given: the SQLite
  file is created with mode 0600; on PostgreSQL only the gateway's role may read the
  table (docs/GATEWAY.md).
- ``gw_system_agencies``: which agencies each system acts for.
- ``gw_config``: one version counter, raised by every change to systems, so running
  gateways notice changes without a restart.
- ``gw_inbox``: packages read from the inboxes of served agencies, stored before the
  position is recorded (same transaction), handed out until the system confirms them.
- ``gw_positions``: the inbox reader's next offset per topic partition.
- ``gw_messages``: what each system sent (sender ``DocId``), for ``getSentEdocList``.
- ``gw_idempotency``: answers of writes, by (system, scope, key), for repeats; kept
  for ``GatewayConfig.answers_kept_for``, then deleted (``gateway.answers``).
- ``gw_quarantine``: inbox records that failed verification, kept with their reason.
- ``gw_nonces``: nonces of signed native-API requests seen within the freshness window
  (a replayed request is refused).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "CONFIG",
    "IDEMPOTENCY",
    "INBOX",
    "MESSAGES",
    "METADATA",
    "NONCES",
    "POSITIONS",
    "QUARANTINE",
    "SYSTEMS",
    "SYSTEM_AGENCIES",
]

METADATA = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

SYSTEMS = Table(
    "gw_systems",
    METADATA,
    Column("system_id", String(128), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("may_register", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

SYSTEM_AGENCIES = Table(
    "gw_system_agencies",
    METADATA,
    Column("system_id", String(128), primary_key=True),
    Column("agency", String(64), primary_key=True),
    Index("ix_gw_system_agencies_agency", "agency"),
)

CONFIG = Table(
    "gw_config",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

INBOX = Table(
    "gw_inbox",
    METADATA,
    Column("doc_id", String(36), primary_key=True),
    Column("agency", String(64), nullable=False),
    Column("message_type", String(16), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("document_id", String(255), nullable=False),
    Column("status_code", String(2), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("state", String(16), nullable=False),
    Column("source", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_inbox_agency_state", "agency", "state", "message_type"),
    Index("ix_gw_inbox_document", "document_id"),
)

POSITIONS = Table(
    "gw_positions",
    METADATA,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

MESSAGES = Table(
    "gw_messages",
    METADATA,
    Column("doc_id", String(36), primary_key=True),
    Column("system_id", String(128), nullable=False),
    Column("agency", String(64), nullable=False),
    Column("message_type", String(16), nullable=False),
    Column("service_type", String(32), nullable=False),
    Column("document_id", String(255), nullable=False),
    Column("status_code", String(2), nullable=True),
    Column("digest", String(64), nullable=False),
    Column("recipients", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("notation", Text, nullable=False),
    Column("changes", Text, nullable=False),
    Column("forwarded", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_messages_document", "document_id"),
)

IDEMPOTENCY = Table(
    "gw_idempotency",
    METADATA,
    Column("system_id", String(128), primary_key=True),
    Column("scope", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("answer", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_idempotency_created_at", "created_at"),
)

QUARANTINE = Table(
    "gw_quarantine",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agency", String(64), nullable=False),
    Column("source", String(255), nullable=False),
    Column("reason_code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", name="uq_gw_quarantine_source"),
)

NONCES = Table(
    "gw_nonces",
    METADATA,
    Column("system_id", String(128), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_nonces_seen_at", "seen_at"),
)
