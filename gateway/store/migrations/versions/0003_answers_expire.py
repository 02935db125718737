"""Answers of writes expire: an index to find the old ones

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 19:15:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'


def upgrade() -> None:
    with op.batch_alter_table('gw_idempotency', schema=None) as batch_op:
        batch_op.create_index('ix_gw_idempotency_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gw_idempotency', schema=None) as batch_op:
        batch_op.drop_index('ix_gw_idempotency_created_at')
