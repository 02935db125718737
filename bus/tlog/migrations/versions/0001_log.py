"""The log's tables: leaves, consumer positions, checkpoints

Revision ID: tlog0001
Revises: (none)
Create Date: 2026-11-29 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tlog0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "tlog_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_tlog_leaves")),
        sa.UniqueConstraint("event_id", name=op.f("uq_tlog_leaves_event_id")),
    )
    op.create_index(op.f("ix_tlog_leaves_document_id"), "tlog_leaves", ["document_id"])
    op.create_index(op.f("ix_tlog_leaves_digest"), "tlog_leaves", ["digest"])
    op.create_table(
        "tlog_positions",
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name=op.f("pk_tlog_positions")),
    )
    op.create_table(
        "tlog_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp_token", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_tlog_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("tlog_checkpoints")
    op.drop_table("tlog_positions")
    op.drop_index(op.f("ix_tlog_leaves_digest"), table_name="tlog_leaves")
    op.drop_index(op.f("ix_tlog_leaves_document_id"), table_name="tlog_leaves")
    op.drop_table("tlog_leaves")
