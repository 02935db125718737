"""An agency's local file: the outbox's and the inbox store's tables

Exactly the tables the stores created before they had migrations (timestamps as
epoch seconds), so a file written then is adopted (stamped at this revision) as it is.

Revision ID: agency0001
Revises: (none)
Create Date: 2026-11-29 16:00:00.000000
"""

from __future__ import annotations

from alembic import op

from agency_client._store import LEGACY_METADATA

revision = "agency0001"
down_revision = None


def upgrade() -> None:
    LEGACY_METADATA.create_all(op.get_bind())


def downgrade() -> None:
    LEGACY_METADATA.drop_all(op.get_bind())
