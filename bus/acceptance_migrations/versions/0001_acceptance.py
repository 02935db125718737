"""The router's acceptance store: accepted packages and acknowledged deliveries

The tables exactly as the store created them before it had migrations, so such a
store is adopted (stamped at this revision) as it is.

Revision ID: acceptance0001
Revises: (none)
Create Date: 2026-11-29 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "acceptance0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "router_accepted",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("doc_key", sa.String(length=512), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender", "doc_key"),
    )
    op.create_index("ix_router_accepted_accepted_at", "router_accepted", ["accepted_at"])
    op.create_index("ix_router_accepted_digest", "router_accepted", ["digest"])
    op.create_table(
        "router_delivered",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("doc_key", sa.String(length=512), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inbox_partition", sa.Integer(), nullable=True),
        sa.Column("inbox_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("sender", "doc_key", "recipient"),
    )


def downgrade() -> None:
    op.drop_table("router_delivered")
    op.drop_index("ix_router_accepted_digest", table_name="router_accepted")
    op.drop_index("ix_router_accepted_accepted_at", table_name="router_accepted")
    op.drop_table("router_accepted")
