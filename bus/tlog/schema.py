"""The log's tables (SQLAlchemy 2 Core), the single description of its SQL schema.

They carry a ``tlog_`` prefix and their own Alembic version table, so the log may
share the tracker's database or live in its own (``EDX_LOG_DB_URL``).

- ``tlog_leaves``: one row per leaf, numbered from 0 in append order: the
  canonical record, its RFC 6962 leaf hash, and the columns to find it again
  (document id, package digest, the lifecycle event id that made it).
- ``tlog_positions``: the next ``edx.events`` offset per partition, written in the
  same transaction as the leaves those records produced.
- ``tlog_nodes``: the hash of every perfect subtree the tree has completed (level
  >= 1; level 0 is the leaves' hashes): ``(level, index)`` covers leaves
  ``index * 2**level`` to ``(index + 1) * 2**level - 1``. Written with the leaves
  that complete them, so proofs and the tree's right edge read O(log n) rows.
- ``tlog_checkpoints``: every published checkpoint: signed note and RFC 3161 token.
- ``tlog_crls``: every CRL the log has seen (by SHA-256 of its DER), with its issuer,
  its ``thisUpdate`` (when it became current) and when the log first saw it, so an
  evidence bundle carries the CRLs that were current when each package was accepted.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from bus.sql import UtcDateTime, position_columns

__all__ = ["METADATA", "checkpoints", "crls", "leaves", "nodes", "positions"]

METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

leaves = Table(
    "tlog_leaves",
    METADATA,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("record", LargeBinary, nullable=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("document_id", String(255), nullable=False, index=True),
    Column("digest", String(64), nullable=False, index=True),
    Column("decision", String(16), nullable=False),
)

nodes = Table(
    "tlog_nodes",
    METADATA,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("node_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

positions = Table(
    "tlog_positions",
    METADATA,
    *position_columns(),
)

checkpoints = Table(
    "tlog_checkpoints",
    METADATA,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("timestamp_token", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

crls = Table(
    "tlog_crls",
    METADATA,
    Column("digest", String(64), primary_key=True),
    Column("issuer", String(1024), nullable=False),
    Column("der", LargeBinary, nullable=False),
    Column("this_update", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
)
