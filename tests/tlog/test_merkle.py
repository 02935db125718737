"""RFC 6962/9162 Merkle hashing and proofs: generated proofs verify, and any change fails.

The reference below is RFC 9162 §2.1.1's recursive definition, written as plainly
as the RFC states it, so the bottom-up code and the frontier are checked against
the specification's own words (Go's implementation checks them in test_go_interop).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signing import (
    ConsistencyProofError,
    Frontier,
    InclusionProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from signing.merkle import (
    consistency_ranges,
    inclusion_path_ranges,
    peak_ids,
    subtree_hash,
    subtree_ids,
)


def _mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


# Unique records: two equal leaves may legitimately swap places in a proof.
records = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


def test_hashes_use_the_rfc_6962_domain_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert root_hash([]) == hashlib.sha256(b"").digest()
    # The RFC 6962 test vector root of the empty tree and of the one-leaf tree of "".
    assert root_hash([leaf_hash(b"")]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@given(records)
def test_root_matches_the_recursive_definition_and_the_frontier(data: list[bytes]) -> None:
    leaves = [leaf_hash(r) for r in data]
    frontier = Frontier()
    for i, leaf in enumerate(leaves):
        frontier.append(leaf)
        assert frontier.size == i + 1
        assert frontier.root() == _mth(leaves[: i + 1]) == root_hash(leaves[: i + 1])


@given(records, st.data())
def test_inclusion_proofs_verify_and_any_change_fails(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(r) for r in data]
    size = draw.draw(st.integers(1, len(leaves)))
    index = draw.draw(st.integers(0, size - 1))
    root = _mth(leaves[:size])
    proof = inclusion_proof(index, size, leaves)
    verify_inclusion(leaves[index], index, size, proof, root)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaf_hash(data[index] + b"x"), index, size, proof, root)
    if size > 1:
        other = draw.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaves[index], other, size, proof, root)
    if proof:
        at = draw.draw(st.integers(0, len(proof) - 1))
        bent = [*proof]
        bent[at] = hashlib.sha256(bent[at]).digest()
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaves[index], index, size, bent, root)
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaves[index], index, size, proof[:-1], root)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaves[index], index, size, [*proof, root], root)


@given(records, st.data())
def test_consistency_proofs_verify_and_a_rewrite_fails(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(r) for r in data]
    new = draw.draw(st.integers(1, len(leaves)))
    old = draw.draw(st.integers(0, new))
    old_root, new_root = _mth(leaves[:old]), _mth(leaves[:new])
    proof = consistency_proof(old, new, leaves)
    verify_consistency(old, new, old_root, new_root, proof)
    if 0 < old < new:
        # One leaf of the old tree rewritten: the old checkpoint no longer fits.
        at = draw.draw(st.integers(0, old - 1))
        forged = [*leaves]
        forged[at] = leaf_hash(data[at] + b"forged")
        forged_proof = consistency_proof(old, new, forged)
        with pytest.raises(ConsistencyProofError):
            verify_consistency(old, new, old_root, _mth(forged[:new]), forged_proof)
        with pytest.raises(ConsistencyProofError):
            verify_consistency(old, new, old_root, new_root, proof[:-1])
        bent = [*proof]
        bent[0] = hashlib.sha256(bent[0]).digest()
        with pytest.raises(ConsistencyProofError):
            verify_consistency(old, new, old_root, new_root, bent)


def test_a_tree_cannot_shrink_and_equal_sizes_need_equal_roots() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    with pytest.raises(ConsistencyProofError):
        verify_consistency(2, 1, a, b, [])
    with pytest.raises(ConsistencyProofError):
        verify_consistency(1, 1, a, b, [])
    verify_consistency(1, 1, a, a, [])
    with pytest.raises(InclusionProofError):
        verify_inclusion(a, 1, 1, [], a)


def test_proofs_beyond_the_log_are_refused() -> None:
    leaves = [leaf_hash(b"a")]
    with pytest.raises(ValueError, match="holds 1 leaves"):
        inclusion_proof(0, 2, leaves)
    with pytest.raises(ValueError, match="holds 1 leaves"):
        consistency_proof(1, 2, leaves)


def _stored(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every node a store keeps: the leaves (level 0) and each completed perfect subtree."""
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    frontier = Frontier()
    for leaf in leaves:
        for level, index, digest in frontier.append(leaf):
            nodes[(level, index)] = digest
    return nodes


@given(records, st.data())
def test_proofs_from_stored_subtrees_equal_proofs_from_leaves(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(r) for r in data]
    nodes = _stored(leaves)
    size = draw.draw(st.integers(1, len(leaves)))
    index = draw.draw(st.integers(0, size - 1))
    old = draw.draw(st.integers(0, size))
    for a, b in [*inclusion_path_ranges(index, size), *consistency_ranges(old, size)]:
        needed = subtree_ids(a, b)
        assert set(needed) <= set(nodes)
        assert len(needed) <= 2 * (b - a).bit_length()  # O(log n) reads, not O(n)
        assert subtree_hash(a, b, {n: nodes[n] for n in needed}) == _mth(leaves[a:b])
    assert [subtree_hash(a, b, nodes) for a, b in inclusion_path_ranges(index, size)] == (
        inclusion_proof(index, size, leaves)
    )
    assert [subtree_hash(a, b, nodes) for a, b in consistency_ranges(old, size)] == (
        consistency_proof(old, size, leaves)
    )
    peaks = [nodes[n] for n in peak_ids(size)]
    assert Frontier.from_peaks(size, peaks).root() == _mth(leaves[:size])
