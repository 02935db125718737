"""Fixtures of the tracker tests: a migrated store on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bus.store import create_store_engine, upgrade


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """A migrated, empty tracker database (SQLite and PostgreSQL)."""
    upgrade(db_url)
    engine = create_store_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()
