"""Indexes for the outbox's lookups by digest and by the document a status answers

Without them every 01 the inbox answers (``Outbox.arrival``: the status kept
for a DocumentId) and every status kept or refused (by its digest) read the
whole ``outbox_packages`` table, package bytes included: a cost per package that
grew with the file.

Revision ID: agency0003
Revises: agency0002
Create Date: 2026-11-29 22:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "agency0003"
down_revision = "agency0002"


def upgrade() -> None:
    op.create_index("ix_outbox_packages_answers", "outbox_packages", ["answers"])
    op.create_index("ix_outbox_packages_digest", "outbox_packages", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_outbox_packages_digest", "outbox_packages")
    op.drop_index("ix_outbox_packages_answers", "outbox_packages")
