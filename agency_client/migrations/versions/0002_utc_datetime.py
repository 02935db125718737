"""Timestamps of the local file as the bus's one UtcDateTime, not epoch seconds

Each FLOAT column becomes a UTC timestamp column and every stored value is
rewritten as the very instant the older code read from it
(``datetime.fromtimestamp(seconds, UTC)``), so nothing moves by a microsecond.

Revision ID: agency0002
Revises: agency0001
Create Date: 2026-11-29 16:00:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bus import UtcDateTime

revision = "agency0002"
down_revision = "agency0001"

# table -> (column, nullable)
_TIMESTAMPS: dict[str, tuple[tuple[str, bool], ...]] = {
    "outbox_packages": (("created_at", False), ("submitted_at", True)),
    "outbox_recipients": (("arrived_at", True),),
    "outbox_statuses": (("at", False),),
    "inbox_taken": (("taken_at", False),),
    "inbox_quarantine": (("at", False),),
}


def _rows(table: str, column: str, type_: sa.types.TypeEngine[object]) -> sa.TableClause:
    return sa.table(table, sa.column("rowid", sa.Integer()), sa.column(column, type_))


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in _TIMESTAMPS.items():
        with op.batch_alter_table(table) as batch:
            for column, nullable in columns:
                batch.alter_column(
                    column,
                    type_=sa.DateTime(timezone=True),
                    existing_type=sa.Float(),
                    existing_nullable=nullable,
                )
        for column, _ in columns:
            raw = _rows(table, column, sa.Float())
            seconds = bind.execute(
                sa.select(raw.c.rowid, raw.c[column]).where(
                    sa.func.typeof(raw.c[column]).in_(["real", "integer"])
                )
            ).all()
            if not seconds:
                continue
            typed = _rows(table, column, UtcDateTime())
            bind.execute(
                sa.update(typed)
                .where(typed.c.rowid == sa.bindparam("row"))
                .values({column: sa.bindparam("instant", type_=UtcDateTime())}),
                [
                    {"row": row, "instant": datetime.fromtimestamp(float(at), UTC)}
                    for row, at in seconds
                ],
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table, columns in _TIMESTAMPS.items():
        for column, _ in columns:
            typed = _rows(table, column, UtcDateTime())
            instants = bind.execute(
                sa.select(typed.c.rowid, typed.c[column]).where(typed.c[column].is_not(None))
            ).all()
            if instants:
                raw = _rows(table, column, sa.Float())
                bind.execute(
                    sa.update(raw)
                    .where(raw.c.rowid == sa.bindparam("row"))
                    .values({column: sa.bindparam("instant", type_=sa.Float())}),
                    [{"row": row, "instant": at.timestamp()} for row, at in instants],
                )
        with op.batch_alter_table(table) as batch:
            for column, nullable in columns:
                batch.alter_column(
                    column,
                    type_=sa.Float(),
                    existing_type=sa.DateTime(timezone=True),
                    existing_nullable=nullable,
                )
