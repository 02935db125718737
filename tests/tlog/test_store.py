"""The log's store on SQLite and PostgreSQL: migrations, atomic appends, proofs from rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert

from bus.lifecycle import EventKind
from bus.store import create_store_engine
from bus.tlog import Coordinates, LeafRecord, LogStore, leaf_from_event, upgrade
from bus.tlog.schema import METADATA, leaves
from signing import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.tlog._events import event


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The log's database, not migrated yet: each test upgrades it as far as it needs."""
    engine = create_store_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _leaves(kinds: list[EventKind], start: int = 0) -> list[LeafRecord]:
    found = []
    for n, kind in enumerate(kinds, start):
        leaf = leaf_from_event(event(kind, n), Coordinates("edx.events", 0, n))
        if leaf is not None:
            found.append(leaf)
    return found


def test_migrations_create_exactly_the_declared_schema(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": "tlog_alembic_version"}
        )
        assert compare_metadata(context, METADATA) == []


def test_append_is_atomic_with_positions_and_skips_repeats(engine: Engine) -> None:
    upgrade(engine)
    store = LogStore(engine)
    first = _leaves(
        [EventKind.SUBMITTED, EventKind.DELIVERED, EventKind.STATUS, EventKind.REJECTED]
    )
    assert len(first) == 3  # DELIVERED makes no leaf
    result = store.append(first, {("edx.events", 0): 4})
    assert (result.first_index, len(result.hashes), result.duplicates) == (0, 3, 0)
    # The same records again (a re-read) and one new: only the new one is appended.
    again = store.append(
        [*first, *_leaves([EventKind.SUBMITTED], start=10)], {("edx.events", 0): 11}
    )
    assert (again.first_index, len(again.hashes), again.duplicates) == (3, 1, 3)
    assert store.positions("edx.events") == {0: 11}
    assert store.size() == 4
    hashes = store.leaf_hashes()
    assert hashes == [
        leaf_hash(leaf.encode()) for leaf in [*first, *_leaves([EventKind.SUBMITTED], 10)]
    ]
    root = root_hash(hashes)
    for index in range(4):
        verify_inclusion(hashes[index], index, 4, store.inclusion_proof(index, 4), root)
    verify_consistency(2, 4, root_hash(hashes[:2]), root, store.consistency_proof(2, 4))
    stored = store.leaves_of(first[0].document_id)
    assert [s.leaf for s in stored] == [first[0]]


def test_checkpoints_are_stored_once_per_size(engine: Engine) -> None:
    upgrade(engine)
    store = LogStore(engine)
    assert store.checkpoint() is None
    store.save_checkpoint(1, b"\x01" * 32, b"note one", None)
    store.save_checkpoint(2, b"\x02" * 32, b"note two", b"token")
    again = store.save_checkpoint(2, b"\x03" * 32, b"other", None)
    assert (again.note, again.timestamp_token) == (b"note two", b"token")
    latest = store.checkpoint()
    assert latest is not None
    assert latest.tree_size == 2
    assert latest.created_at.tzinfo is not None


def test_a_log_from_before_stored_subtrees_gets_them_on_upgrade(engine: Engine) -> None:
    upgrade(engine, "tlog0001")
    records = _leaves([EventKind.SUBMITTED, EventKind.STATUS, EventKind.REJECTED] * 7)  # 21 leaves
    with engine.begin() as connection:
        connection.execute(
            insert(leaves),
            [
                {
                    "leaf_index": n,
                    "leaf_hash": leaf_hash(r.encode()),
                    "record": r.encode(),
                    "event_id": r.event_id,
                    "document_id": r.document_id,
                    "digest": r.digest,
                    "decision": r.decision.value,
                }
                for n, r in enumerate(records)
            ],
        )
    upgrade(engine)
    store = LogStore(engine)
    hashes = [leaf_hash(r.encode()) for r in records]
    assert store.frontier().root() == root_hash(hashes)
    for index in range(21):
        assert store.inclusion_proof(index, 21) == inclusion_proof(index, 21, hashes)
    assert store.consistency_proof(13, 21) == consistency_proof(13, 21, hashes)
    # And appends go on from there.
    store.append(_leaves([EventKind.SUBMITTED], start=100), {("edx.events", 0): 101})
    assert store.frontier().root() == root_hash(store.leaf_hashes())
