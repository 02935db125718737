"""The log's stored subtree hashes, filled in for the leaves already logged

Revision ID: tlog0002
Revises: tlog0001
Create Date: 2026-11-29 12:55:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "tlog0002"
down_revision = "tlog0001"


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def upgrade() -> None:
    nodes = op.create_table(
        "tlog_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_tlog_nodes")),
    )
    # Every perfect subtree the existing leaves complete, as the log would have written.
    connection = op.get_bind()
    peaks: list[bytes] = []
    rows: list[dict[str, object]] = []
    size = 0
    query = sa.text("SELECT leaf_hash FROM tlog_leaves ORDER BY leaf_index")
    for (leaf,) in connection.execute(query):
        node, carry, level = bytes(leaf), size, 0
        while carry & 1:
            node = _node(peaks.pop(), node)
            carry >>= 1
            level += 1
            rows.append({"level": level, "node_index": size >> level, "hash": node})
        peaks.append(node)
        size += 1
        if len(rows) >= 5000:
            op.bulk_insert(nodes, rows)
            rows = []
    if rows:
        op.bulk_insert(nodes, rows)


def downgrade() -> None:
    op.drop_table("tlog_nodes")
