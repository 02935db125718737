"""The router's memory of accepted packages: retries, replays, restarts, pruning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
)

from bus.acceptance import VERSION_TABLE, AcceptanceStore, Delivery, metadata, status_key
from bus.errors import DatabaseError, ReplayError
from bus.sql import schema_revision

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
DOC = "000.00.00.G22,2026/11/23,1/VPCP"


@pytest.fixture
def store(db_url: str) -> Iterator[AcceptanceStore]:
    """The store on each backend (SQLite file, PostgreSQL)."""
    with AcceptanceStore(db_url) as opened:
        yield opened


def test_new_package_is_accepted_with_nothing_delivered(store: AcceptanceStore) -> None:
    accepted = store.accept("G22", DOC, "d1", ["H41", "H44", "H41"], now=NOW)
    assert accepted.recipients == ("H41", "H44")
    assert accepted.undelivered == ("H41", "H44")
    assert store.lookup("G22", DOC) == accepted


def test_same_bytes_again_is_a_retry_that_knows_deliveries(store: AcceptanceStore) -> None:
    store.accept("G22", DOC, "d1", ["H41", "H44"], now=NOW)
    store.mark_delivered([("G22", DOC, "H41")], now=NOW)
    store.mark_delivered([("G22", DOC, "H41")], now=NOW)  # idempotent
    again = store.accept("G22", DOC, "d1", ["H41", "H44"], now=NOW + timedelta(hours=1))
    assert again.delivered == {"H41"}
    assert again.undelivered == ("H44",)
    assert again.accepted_at == NOW


def test_other_bytes_under_the_same_id_are_a_replay(store: AcceptanceStore) -> None:
    store.accept("G22", DOC, "d1", ["H41"], now=NOW)
    with pytest.raises(ReplayError) as caught:
        store.accept("G22", DOC, "d2", ["H41"], now=NOW)
    assert caught.value.reason_code == "replay"
    # Another sender may use the same id: keys are per sender.
    assert store.accept("H41", DOC, "d2", ["G22"], now=NOW).digest == "d2"


def test_memory_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'router.db'}"
    with AcceptanceStore(url) as first:
        first.accept("G22", DOC, "d1", ["H41"], now=NOW)
        first.mark_delivered([("G22", DOC, "H41")], now=NOW)
    with AcceptanceStore(url) as second:
        remembered = second.lookup("G22", DOC)
        assert remembered is not None
        assert remembered.delivered == {"H41"}
        with pytest.raises(ReplayError):
            second.accept("G22", DOC, "other", ["H41"], now=NOW)


def test_prune_bounds_the_store(tmp_path: Path) -> None:
    with AcceptanceStore(f"sqlite:///{tmp_path / 'r.db'}", horizon=timedelta(days=30)) as store:
        store.accept("G22", "old", "d", ["H41"], now=NOW - timedelta(days=31))
        store.mark_delivered([("G22", "old", "H41")], now=NOW)
        store.accept("G22", status_key("abc"), "abc", ["H41"], now=NOW)
        assert store.prune(now=NOW) == 1
        assert store.lookup("G22", "old") is None
        assert store.count() == 1


def test_closed_store_is_a_named_error(tmp_path: Path) -> None:
    store = AcceptanceStore(f"sqlite:///{tmp_path / 'r.db'}")
    with pytest.raises(DatabaseError, match="not open"):
        store.lookup("G22", DOC)


def test_delivery_positions_are_kept_and_moved(store: AcceptanceStore) -> None:
    store.accept("G22", DOC, "d1", ["H41", "H44"], now=NOW)
    store.mark_delivered([Delivery("G22", DOC, "H41", 1, 7), ("G22", DOC, "H44")], now=NOW)
    remembered = store.lookup("G22", DOC)
    assert remembered is not None
    assert remembered.positions == {"H41": (1, 7)}
    # Written again (the broker lost the first copy): the new position replaces the old.
    store.mark_delivered([Delivery("G22", DOC, "H41", 0, 0)], now=NOW)
    moved = store.lookup("G22", DOC)
    assert moved is not None
    assert moved.positions == {"H41": (0, 0)}
    assert moved.delivered == {"H41", "H44"}


# --- a store created before it had migrations -----------------------------------------------


def _create_all_as_before(url: str, *, digest_index: bool = True) -> None:
    """The store as the router made it with ``metadata.create_all``, holding one package."""
    old = MetaData()
    accepted = Table(
        "router_accepted",
        old,
        Column("sender", String(64), primary_key=True),
        Column("doc_key", String(512), primary_key=True),
        Column("digest", String(64), nullable=False),
        Column("recipients", Text, nullable=False),
        Column("accepted_at", DateTime(timezone=True), nullable=False, index=True),
    )
    if digest_index:
        Index("ix_router_accepted_digest", accepted.c.digest)
    delivered = Table(
        "router_delivered",
        old,
        Column("sender", String(64), primary_key=True),
        Column("doc_key", String(512), primary_key=True),
        Column("recipient", String(64), primary_key=True),
        Column("delivered_at", DateTime(timezone=True), nullable=False),
        Column("inbox_partition", Integer, nullable=True),
        Column("inbox_offset", BigInteger, nullable=True),
    )
    engine = create_engine(url)
    try:
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(accepted).values(
                    sender="G22",
                    doc_key=DOC,
                    digest="d1",
                    recipients='["H41", "H44"]',
                    accepted_at=NOW,
                )
            )
            conn.execute(
                insert(delivered).values(
                    sender="G22",
                    doc_key=DOC,
                    recipient="H41",
                    delivered_at=NOW,
                    inbox_partition=0,
                    inbox_offset=7,
                )
            )
    finally:
        engine.dispose()


def _schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            differences: list[object] = compare_metadata(context, metadata)
            return differences
    finally:
        engine.dispose()


def test_a_store_made_before_migrations_is_adopted_as_it_is(db_url: str) -> None:
    _create_all_as_before(db_url)
    with AcceptanceStore(db_url) as store:
        remembered = store.lookup("G22", DOC)
        assert remembered is not None
        assert remembered.recipients == ("H41", "H44")
        assert remembered.accepted_at == NOW
        assert remembered.positions == {"H41": (0, 7)}
        with pytest.raises(ReplayError):
            store.accept("G22", DOC, "other", ["H41"], now=NOW)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert schema_revision(conn, VERSION_TABLE) == "acceptance0001"
    finally:
        engine.dispose()
    assert _schema_differences(db_url) == []
    with AcceptanceStore(db_url) as again:  # opening again changes nothing
        assert again.count() == 1


def test_an_older_store_without_the_digest_index_gets_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'router.db'}"
    _create_all_as_before(url, digest_index=False)
    with AcceptanceStore(url) as store:
        assert set(store.by_digests(["d1"])) == {"d1"}
    assert _schema_differences(url) == []


def test_a_new_store_is_migrated_to_exactly_its_tables(db_url: str) -> None:
    with AcceptanceStore(db_url):
        pass
    assert _schema_differences(db_url) == []
