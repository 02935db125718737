"""The log's SQL store: leaves appended in batches with the consumer's position.

:func:`LogStore.append` writes a batch of leaves and the ``edx.events`` positions
that produced them in one transaction (the eventsourcing shape): after a crash the
log resumes from the stored positions, so no record is skipped, and a record read
twice (the router re-emitting an event, a re-read after a crash) is recognised by
its event id and appended once. One log process appends to one store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, tuple_, update

from bus.errors import UnknownDocumentError
from bus.sql import database_errors
from bus.tlog.leaf import LeafRecord
from bus.tlog.schema import checkpoints, leaves, nodes, positions
from signing import (
    Frontier,
    NodeId,
    consistency_ranges,
    inclusion_path_ranges,
    leaf_hash,
    peak_ids,
    subtree_hash,
    subtree_ids,
)

__all__ = ["AppendResult", "LogStore", "StoredCheckpoint", "StoredLeaf"]

_WHAT = "log database"


@dataclass(frozen=True)
class AppendResult:
    """What one append wrote: the new leaf hashes in order, and how many were repeats."""

    first_index: int
    hashes: tuple[bytes, ...]
    duplicates: int


@dataclass(frozen=True)
class StoredLeaf:
    """One leaf as stored: its index, canonical bytes and hash."""

    index: int
    record: bytes
    leaf_hash: bytes

    @property
    def leaf(self) -> LeafRecord:
        """The decoded record."""
        return LeafRecord.decode(self.record)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A published checkpoint: the signed note and its RFC 3161 token (if obtained)."""

    tree_size: int
    root_hash: bytes
    note: bytes
    timestamp_token: bytes | None
    created_at: datetime


class LogStore:
    """The log's leaves, positions and checkpoints in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def size(self) -> int:
        """How many leaves the log holds."""
        with database_errors(_WHAT), self.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(leaves)) or 0)

    def leaf_hashes(self, end: int | None = None) -> list[bytes]:
        """The leaf hashes of leaves ``0 .. end-1`` (all by default), in order."""
        query = select(leaves.c.leaf_hash).order_by(leaves.c.leaf_index)
        if end is not None:
            query = query.where(leaves.c.leaf_index < end)
        with database_errors(_WHAT), self.engine.connect() as connection:
            return [bytes(row[0]) for row in connection.execute(query)]

    def positions(self, topic: str) -> dict[int, int]:
        """The next offset to read per partition of ``topic``."""
        query = select(positions.c.partition, positions.c.next_offset).where(
            positions.c.topic == topic
        )
        with database_errors(_WHAT), self.engine.connect() as connection:
            return {int(p): int(o) for p, o in connection.execute(query)}

    def append(
        self, records: Sequence[LeafRecord], ends: Mapping[tuple[str, int], int]
    ) -> AppendResult:
        """Append the records not yet logged and move the positions to ``ends``, atomically."""
        with database_errors(_WHAT), self.engine.begin() as connection:
            size = int(connection.scalar(select(func.count()).select_from(leaves)) or 0)
            frontier = self._frontier(connection, size)
            completed: list[dict[str, object]] = []
            ids = [record.event_id for record in records]
            seen = set(
                connection.scalars(select(leaves.c.event_id).where(leaves.c.event_id.in_(ids)))
            )
            rows: list[dict[str, object]] = []
            hashes: list[bytes] = []
            for record in records:
                if record.event_id in seen:
                    continue
                seen.add(record.event_id)
                encoded = record.encode()
                digest = leaf_hash(encoded)
                rows.append(
                    {
                        "leaf_index": size + len(rows),
                        "leaf_hash": digest,
                        "record": encoded,
                        "event_id": record.event_id,
                        "document_id": record.document_id,
                        "digest": record.digest,
                        "decision": record.decision.value,
                    }
                )
                hashes.append(digest)
                completed.extend(
                    {"level": level, "node_index": index, "hash": node}
                    for level, index, node in frontier.append(digest)
                )
            if rows:
                connection.execute(insert(leaves), rows)
            if completed:
                connection.execute(insert(nodes), completed)
            stored = {
                (t, p)
                for t, p in connection.execute(select(positions.c.topic, positions.c.partition))
            }
            for (topic, partition), offset in ends.items():
                if (topic, partition) in stored:
                    connection.execute(
                        update(positions)
                        .where(positions.c.topic == topic, positions.c.partition == partition)
                        .values(next_offset=offset)
                    )
                else:
                    connection.execute(
                        insert(positions).values(
                            topic=topic, partition=partition, next_offset=offset
                        )
                    )
        return AppendResult(size, tuple(hashes), len(records) - len(rows))

    def leaf(self, index: int) -> StoredLeaf:
        """One leaf by index."""
        query = select(leaves.c.leaf_index, leaves.c.record, leaves.c.leaf_hash).where(
            leaves.c.leaf_index == index
        )
        with database_errors(_WHAT), self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise UnknownDocumentError(f"the log has no leaf {index}")
        return StoredLeaf(int(row[0]), bytes(row[1]), bytes(row[2]))

    def all_leaves(self) -> list[StoredLeaf]:
        """Every leaf, in log order (for the audit)."""
        query = select(leaves.c.leaf_index, leaves.c.record, leaves.c.leaf_hash).order_by(
            leaves.c.leaf_index
        )
        with database_errors(_WHAT), self.engine.connect() as connection:
            return [StoredLeaf(int(i), bytes(r), bytes(h)) for i, r, h in connection.execute(query)]

    def leaf_chunks(self, size: int = 5000) -> Iterator[list[StoredLeaf]]:
        """Every leaf in log order, ``size`` at a time (the audit holds one chunk)."""
        start = 0
        while True:
            query = (
                select(leaves.c.leaf_index, leaves.c.record, leaves.c.leaf_hash)
                .where(leaves.c.leaf_index >= start)
                .order_by(leaves.c.leaf_index)
                .limit(size)
            )
            with database_errors(_WHAT), self.engine.connect() as connection:
                chunk = [
                    StoredLeaf(int(i), bytes(r), bytes(h)) for i, r, h in connection.execute(query)
                ]
            if not chunk:
                return
            yield chunk
            start = chunk[-1].index + 1

    def nodes_at(self, wanted: Iterable[NodeId]) -> dict[NodeId, bytes]:
        """The stored subtree hashes of ``wanted`` (those absent are left out)."""
        by_level: dict[int, list[int]] = {}
        for level, index in wanted:
            by_level.setdefault(level, []).append(index)
        found: dict[NodeId, bytes] = {}
        with database_errors(_WHAT), self.engine.connect() as connection:
            for level, indexes in by_level.items():
                for start in range(0, len(indexes), 500):
                    query = select(nodes.c.node_index, nodes.c.hash).where(
                        nodes.c.level == level, nodes.c.node_index.in_(indexes[start : start + 500])
                    )
                    for index, digest in connection.execute(query):
                        found[(level, int(index))] = bytes(digest)
        return found

    def nodes_beyond(self, size: int) -> list[NodeId]:
        """Stored subtree hashes that cover a leaf at or past ``size`` (none should)."""
        clauses = [
            and_(nodes.c.level == level, nodes.c.node_index >= size >> level)
            for level in range(1, 63)
        ]
        query = select(nodes.c.level, nodes.c.node_index).where(or_(*clauses))
        with database_errors(_WHAT), self.engine.connect() as connection:
            return sorted((int(lv), int(i)) for lv, i in connection.execute(query))

    def all_nodes(self) -> dict[NodeId, bytes]:
        """Every stored subtree hash (level >= 1), for the audit."""
        query = select(nodes.c.level, nodes.c.node_index, nodes.c.hash)
        with database_errors(_WHAT), self.engine.connect() as connection:
            return {(int(lv), int(i)): bytes(d) for lv, i, d in connection.execute(query)}

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, smallest tree first."""
        with database_errors(_WHAT), self.engine.connect() as connection:
            rows = (
                connection.execute(select(checkpoints).order_by(checkpoints.c.tree_size))
                .mappings()
                .all()
            )
        return [
            StoredCheckpoint(
                int(row["tree_size"]),
                bytes(row["root_hash"]),
                bytes(row["note"]),
                None if row["timestamp_token"] is None else bytes(row["timestamp_token"]),
                row["created_at"],
            )
            for row in rows
        ]

    def leaves_of(self, document_id: str) -> list[StoredLeaf]:
        """Every leaf of one document (accepted and refused), in log order."""
        query = (
            select(leaves.c.leaf_index, leaves.c.record, leaves.c.leaf_hash)
            .where(leaves.c.document_id == document_id)
            .order_by(leaves.c.leaf_index)
        )
        with database_errors(_WHAT), self.engine.connect() as connection:
            return [StoredLeaf(int(i), bytes(r), bytes(h)) for i, r, h in connection.execute(query)]

    def _nodes(self, connection: Connection, wanted: set[NodeId]) -> dict[NodeId, bytes]:
        """The stored hashes of ``wanted`` nodes (level 0: the leaves' hashes)."""
        found: dict[NodeId, bytes] = {}
        level_zero = sorted(i for level, i in wanted if level == 0)
        higher = sorted((level, i) for level, i in wanted if level > 0)
        for start in range(0, len(level_zero), 500):
            chunk = level_zero[start : start + 500]
            query = select(leaves.c.leaf_index, leaves.c.leaf_hash).where(
                leaves.c.leaf_index.in_(chunk)
            )
            found.update({(0, int(i)): bytes(d) for i, d in connection.execute(query)})
        for start in range(0, len(higher), 500):
            pairs = higher[start : start + 500]
            node_query = select(nodes.c.level, nodes.c.node_index, nodes.c.hash).where(
                tuple_(nodes.c.level, nodes.c.node_index).in_(pairs)
            )
            for level, index, digest in connection.execute(node_query):
                found[(int(level), int(index))] = bytes(digest)
        missing = wanted - set(found)
        if missing:
            raise UnknownDocumentError(f"the log has no stored hash for node(s) {sorted(missing)}")
        return found

    def _frontier(self, connection: Connection, size: int) -> Frontier:
        ids = peak_ids(size)
        stored = self._nodes(connection, set(ids))
        return Frontier.from_peaks(size, [stored[i] for i in ids])

    def frontier(self) -> Frontier:
        """The tree's right edge as stored (its size and root), from O(log n) rows."""
        with database_errors(_WHAT), self.engine.connect() as connection:
            size = int(connection.scalar(select(func.count()).select_from(leaves)) or 0)
            return self._frontier(connection, size)

    def _proof(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        wanted = {node for a, b in ranges for node in subtree_ids(a, b)}
        with database_errors(_WHAT), self.engine.connect() as connection:
            stored = self._nodes(connection, wanted)
        return [subtree_hash(a, b, stored) for a, b in ranges]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        held = self.size()
        if size > held:
            raise ValueError(f"the log holds {held} leaves, not {size}")
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        return self._proof(inclusion_path_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof from ``old_size`` to ``new_size`` leaves."""
        held = self.size()
        if new_size > held:
            raise ValueError(f"the log holds {held} leaves, not {new_size}")
        if not 0 <= old_size <= new_size:
            raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
        return self._proof(consistency_ranges(old_size, new_size))

    def save_checkpoint(
        self, tree_size: int, root: bytes, note: bytes, token: bytes | None
    ) -> StoredCheckpoint:
        """Store a published checkpoint (a second one for the same size is kept out)."""
        now = datetime.now(UTC)
        with database_errors(_WHAT), self.engine.begin() as connection:
            existing = connection.execute(
                select(checkpoints.c.tree_size).where(checkpoints.c.tree_size == tree_size)
            ).first()
            if existing is None:
                connection.execute(
                    insert(checkpoints).values(
                        tree_size=tree_size,
                        root_hash=root,
                        note=note,
                        timestamp_token=token,
                        created_at=now,
                    )
                )
        stored = self.checkpoint(tree_size)
        assert stored is not None
        return stored

    def previous_checkpoint_size(self, tree_size: int) -> int | None:
        """The size of the largest stored checkpoint smaller than ``tree_size``."""
        query = select(func.max(checkpoints.c.tree_size)).where(checkpoints.c.tree_size < tree_size)
        with database_errors(_WHAT), self.engine.connect() as connection:
            found = connection.scalar(query)
        return None if found is None else int(found)

    def latest_timestamped_size(self) -> int | None:
        """The size of the latest checkpoint that carries a time-stamp token."""
        query = select(func.max(checkpoints.c.tree_size)).where(
            checkpoints.c.timestamp_token.is_not(None)
        )
        with database_errors(_WHAT), self.engine.connect() as connection:
            found = connection.scalar(query)
        return None if found is None else int(found)

    def checkpoint(self, tree_size: int | None = None) -> StoredCheckpoint | None:
        """The checkpoint for ``tree_size``, or the latest one; ``None`` if there is none."""
        query = select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1)
        if tree_size is not None:
            query = select(checkpoints).where(checkpoints.c.tree_size == tree_size)
        with database_errors(_WHAT), self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            return None
        token = row["timestamp_token"]
        return StoredCheckpoint(
            int(row["tree_size"]),
            bytes(row["root_hash"]),
            bytes(row["note"]),
            None if token is None else bytes(token),
            row["created_at"],
        )
