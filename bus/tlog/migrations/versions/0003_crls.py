"""The CRLs the log has seen current, by digest, with the time each became current

Revision ID: tlog0003
Revises: tlog0002
Create Date: 2026-11-29 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bus.store.schema import UtcDateTime

revision = "tlog0003"
down_revision = "tlog0002"


def upgrade() -> None:
    op.create_table(
        "tlog_crls",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=1024), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("this_update", UtcDateTime(), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_tlog_crls")),
    )


def downgrade() -> None:
    op.drop_table("tlog_crls")
