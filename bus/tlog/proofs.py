"""Answers from the log's store: the latest checkpoint, inclusion and consistency proofs.

Every proof is made against a stored, signed checkpoint (the latest by default)
and checked before it is returned, so a proof the CLI prints or an evidence
bundle carries is one that verifies. :class:`LeafProof` is also the JSON form a
bundle's ``proofs/`` holds (see docs/AUDIT.md).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bus.errors import UnknownDocumentError
from bus.settings import Settings
from bus.store import create_store_engine
from bus.tlog.errors import NoCheckpointError
from bus.tlog.settings import LogSettings
from bus.tlog.store import LogStore, StoredCheckpoint, StoredLeaf
from signing import (
    Checkpoint,
    NoteVerifier,
    inclusion_proof,
    load_log_verifier,
    open_checkpoint,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "ConsistencyAnswer",
    "LeafProof",
    "checked_checkpoint",
    "consistency_between",
    "log_store",
    "prove_document",
    "prove_leaf",
    "prove_leaves",
]


@dataclass(frozen=True)
class LeafProof:
    """One leaf, its inclusion proof, and the size of the tree it is proven in."""

    index: int
    record: bytes
    leaf_hash: bytes
    tree_size: int
    proof: tuple[bytes, ...]

    def as_json(self) -> dict[str, Any]:
        """The proof as a bundle's ``proofs/N.json`` holds it."""
        return {
            "leaf_index": self.index,
            "tree_size": self.tree_size,
            "leaf": base64.b64encode(self.record).decode(),
            "leaf_hash": base64.b64encode(self.leaf_hash).decode(),
            "inclusion_proof": [base64.b64encode(h).decode() for h in self.proof],
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> LeafProof:
        """Read a proof written by :meth:`as_json`."""
        return cls(
            index=int(body["leaf_index"]),
            record=base64.b64decode(body["leaf"], validate=True),
            leaf_hash=base64.b64decode(body["leaf_hash"], validate=True),
            tree_size=int(body["tree_size"]),
            proof=tuple(base64.b64decode(h, validate=True) for h in body["inclusion_proof"]),
        )


@dataclass(frozen=True)
class ConsistencyAnswer:
    """A consistency proof between two stored checkpoints, checked."""

    old: Checkpoint
    new: Checkpoint
    proof: tuple[bytes, ...]


@contextmanager
def log_store(settings: Settings, log_settings: LogSettings | None = None) -> Iterator[LogStore]:
    """The log's store for a reader (the database must exist: readers invent nothing)."""
    chosen = log_settings or LogSettings.from_env(settings)
    engine = create_store_engine(chosen.db_url, must_exist=True, written_by="the log")
    try:
        yield LogStore(engine)
    finally:
        engine.dispose()


def checked_checkpoint(
    store: LogStore, verifier: NoteVerifier, size: int | None = None
) -> tuple[StoredCheckpoint, Checkpoint]:
    """A stored checkpoint (the latest, or the one of ``size``) with its signature checked."""
    stored = store.checkpoint(size)
    if stored is None:
        which = "any tree" if size is None else f"a tree of {size} leaves"
        raise NoCheckpointError(f"the log has published no checkpoint of {which}")
    return stored, open_checkpoint(stored.note, [verifier])


def prove_leaves(
    store: LogStore, leaves: list[StoredLeaf], checkpoint: Checkpoint
) -> list[LeafProof]:
    """Each leaf proven, and checked, in ``checkpoint``'s tree (one read of the hashes)."""
    hashes = store.leaf_hashes(checkpoint.size)
    found = []
    for leaf in leaves:
        proof = inclusion_proof(leaf.index, checkpoint.size, hashes)
        verify_inclusion(leaf.leaf_hash, leaf.index, checkpoint.size, proof, checkpoint.root_hash)
        found.append(
            LeafProof(leaf.index, leaf.record, leaf.leaf_hash, checkpoint.size, tuple(proof))
        )
    return found


def _proof(store: LogStore, leaf: StoredLeaf, checkpoint: Checkpoint) -> LeafProof:
    proof = store.inclusion_proof(leaf.index, checkpoint.size)
    verify_inclusion(leaf.leaf_hash, leaf.index, checkpoint.size, proof, checkpoint.root_hash)
    return LeafProof(leaf.index, leaf.record, leaf.leaf_hash, checkpoint.size, tuple(proof))


def prove_leaf(
    settings: Settings, index: int, log_settings: LogSettings | None = None
) -> tuple[StoredCheckpoint, LeafProof]:
    """Leaf ``index`` proven in the latest checkpoint."""
    verifier = load_log_verifier(settings.resolved_pki)
    with log_store(settings, log_settings) as store:
        stored, checkpoint = checked_checkpoint(store, verifier)
        if index >= checkpoint.size:
            raise NoCheckpointError(
                f"leaf {index} is not covered by the latest checkpoint ({checkpoint.size} leaves)"
            )
        return stored, _proof(store, store.leaf(index), checkpoint)


def prove_document(
    settings: Settings, document_id: str, log_settings: LogSettings | None = None
) -> tuple[StoredCheckpoint, list[LeafProof]]:
    """Every leaf of a document that the latest checkpoint covers, each proven."""
    verifier = load_log_verifier(settings.resolved_pki)
    with log_store(settings, log_settings) as store:
        stored, checkpoint = checked_checkpoint(store, verifier)
        leaves = [leaf for leaf in store.leaves_of(document_id) if leaf.index < checkpoint.size]
        if not leaves:
            raise UnknownDocumentError(
                f"the log's latest checkpoint covers no leaf of document {document_id}"
            )
        return stored, prove_leaves(store, leaves, checkpoint)


def consistency_between(
    settings: Settings, old_size: int, new_size: int, log_settings: LogSettings | None = None
) -> ConsistencyAnswer:
    """The checked consistency proof between the stored checkpoints of two sizes."""
    verifier = load_log_verifier(settings.resolved_pki)
    with log_store(settings, log_settings) as store:
        _, old = checked_checkpoint(store, verifier, old_size)
        _, new = checked_checkpoint(store, verifier, new_size)
        proof = store.consistency_proof(old.size, new.size)
    verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    return ConsistencyAnswer(old, new, tuple(proof))
