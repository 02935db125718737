"""Merkle tree hashing, inclusion and consistency proofs, exactly as RFC 6962/9162 define them.

A transparency log is only useful if anyone can check it with code the operator did
not write, so nothing here is our own invention: the leaf hash is
``SHA-256(0x00 || record)``, an interior node is ``SHA-256(0x01 || left || right)``,
the tree over ``n`` leaves splits at the largest power of two below ``n``
(RFC 9162 §2.1.1), proofs are generated as §2.1.3.1 and §2.1.4.1 describe and
checked with the algorithms of §2.1.3.2 and §2.1.4.2, step for step. The test suite
checks both directions against Go's ``golang.org/x/mod/sumdb/tlog``.

Proof generation works over a :class:`LeafHashes` source (a list in memory, or the
log's store reading a range of stored leaf hashes), so the same code serves the log
service and the tests. :class:`Frontier` keeps the right edge of a growing tree (one
hash per set bit of its size) so that appending is O(log n) and the root of the
current tree is always at hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from signing.tlog_errors import ConsistencyProofError, InclusionProofError

__all__ = [
    "HASH_SIZE",
    "Frontier",
    "LeafHashes",
    "NodeId",
    "consistency_proof",
    "consistency_ranges",
    "empty_root",
    "inclusion_path_ranges",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "peak_ids",
    "root_hash",
    "subtree_hash",
    "subtree_ids",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(record: bytes) -> bytes:
    """The RFC 6962 hash of one leaf: SHA-256(0x00 || record)."""
    return hashlib.sha256(_LEAF_PREFIX + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """The root of the empty tree: SHA-256 of the empty string."""
    return hashlib.sha256(b"").digest()


class LeafHashes(Protocol):
    """Random access to a log's leaf hashes; ``[start:end]`` reads a range."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> Sequence[bytes]: ...


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, bottom-up by levels (no recursion depth, no slicing copies)."""
    if not hashes:
        return empty_root()
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root_hash(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) over the given leaf hashes.

    Pairing adjacent nodes level by level and carrying an odd last node up is the
    same tree as RFC 9162's split at the largest power of two: both make the left
    subtrees perfect and as large as possible.
    """
    return _subtree(hashes)


def _check_sizes(index: int, size: int, available: int) -> None:
    if size > available:
        raise ValueError(f"the log holds {available} leaves, not {size}")
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")


def inclusion_proof(index: int, size: int, hashes: LeafHashes) -> list[bytes]:
    """The audit path PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf to root."""
    _check_sizes(index, size, len(hashes))
    leaves = hashes[0:size]
    return [_subtree(leaves[a:b]) for a, b in inclusion_path_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, hashes: LeafHashes) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1 (empty when the sizes are equal
    or the old tree is empty)."""
    if new_size > len(hashes):
        raise ValueError(f"the log holds {len(hashes)} leaves, not {new_size}")
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    leaves = hashes[0:new_size]
    return [_subtree(leaves[a:b]) for a, b in consistency_ranges(old_size, new_size)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise :class:`InclusionProofError`."""
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise InclusionProofError("a proof hash is not 32 bytes long")
        if sn == 0:
            raise InclusionProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise InclusionProofError(
            f"leaf {index} does not lead to the root hash of the tree of {size} leaves"
        )


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``new_size`` leaves extends the tree of ``old_size`` leaves
    (RFC 9162 §2.1.4.2); raise :class:`ConsistencyProofError` on a fork or rewrite."""
    if not 0 <= old_size <= new_size:
        raise ConsistencyProofError(f"a tree cannot shrink from {old_size} to {new_size} leaves")
    if any(len(c) != HASH_SIZE for c in proof):
        raise ConsistencyProofError("a proof hash is not 32 bytes long")
    if old_size == new_size:
        if proof:
            raise ConsistencyProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ConsistencyProofError(f"two different root hashes for size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ConsistencyProofError("a proof from the empty tree must be empty")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ConsistencyProofError("the consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError("the consistency proof is too short")
    if fr != old_root:
        raise ConsistencyProofError(
            f"the tree of {new_size} leaves does not contain the tree of {old_size} leaves "
            "(old root differs: the log was rewritten or forked)"
        )
    if sr != new_root:
        raise ConsistencyProofError(
            f"the consistency proof does not lead to the root of the tree of {new_size} leaves"
        )


#: A stored node: (level, index) is MTH(D[index * 2**level : (index + 1) * 2**level]).
NodeId = tuple[int, int]


def peak_ids(size: int) -> list[NodeId]:
    """The perfect subtrees a tree of ``size`` leaves is made of, largest (leftmost) first."""
    ids: list[NodeId] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            ids.append((level, start >> level))
            start += 1 << level
    return ids


def subtree_ids(start: int, end: int) -> list[NodeId]:
    """The perfect, aligned subtrees whose hashes give MTH(D[start:end]) by RFC 9162's split."""
    if end - start < 1:
        return []
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        return [(size.bit_length() - 1, start // size)]
    k = _split(size)
    return subtree_ids(start, start + k) + subtree_ids(start + k, end)


def subtree_hash(start: int, end: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """MTH(D[start:end]) from the stored nodes :func:`subtree_ids` names."""
    if end <= start:
        return empty_root()
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        return nodes[(size.bit_length() - 1, start // size)]
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, nodes), subtree_hash(start + k, end, nodes))


def inclusion_path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH make PATH(index, D[0:size]), leaf to root."""
    ranges: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m = start + k, m - k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH make PROOF(old_size, D[0:new_size]), in proof order."""
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


class Frontier:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest first.

    A tree of ``n`` leaves is a sequence of perfect subtrees, one per set bit of
    ``n``; its root folds them from the right. Appending merges equal-sized subtrees
    the way binary addition carries, so the log never rereads old leaves to know its
    current root; each merge completes a perfect subtree, which :meth:`append`
    returns so a store can keep it (proofs then read O(log n) stored nodes).
    """

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @classmethod
    def from_peaks(cls, size: int, peaks: Sequence[bytes]) -> Frontier:
        """The frontier of a tree of ``size`` leaves from its peaks (:func:`peak_ids` order)."""
        if len(peaks) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} peaks")
        frontier = cls()
        frontier._size = size
        frontier._peaks = list(peaks)
        return frontier

    @property
    def size(self) -> int:
        """How many leaves the tree holds."""
        return self._size

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash at the right edge; the perfect subtrees it completed,
        as (level, index, hash), smallest first (level 0, the leaf itself, excluded)."""
        completed: list[tuple[int, int, bytes]] = []
        node = leaf
        size = self._size
        level = 0
        while size & 1:
            node = node_hash(self._peaks.pop(), node)
            size >>= 1
            level += 1
            completed.append((level, self._size >> level, node))
        self._peaks.append(node)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """The current tree's root hash."""
        if not self._peaks:
            return empty_root()
        node = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node
