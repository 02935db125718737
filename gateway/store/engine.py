"""Opening the gateway's database: a private SQLite file or PostgreSQL, migrated to head.

Opened through the bus's one SQL foundation (:func:`bus.create_store_engine`). The
database holds the systems' secrets, so a SQLite file is created readable by its
owner only (``private``: 0600; SQLite gives its WAL and journal files the same mode).
Concurrent starts are serialised as for the tracker's database: an advisory lock on
PostgreSQL.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Engine

from bus import create_store_engine, run_migrations

__all__ = ["open_gateway_engine", "upgrade"]

# An arbitrary, fixed key for pg_advisory_xact_lock: "edx gateway migrations".
_ADVISORY_LOCK_KEY = 0x6564785F677779
_MIGRATIONS = resources.files("gateway.store") / "migrations"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the gateway's database to ``revision`` (the newest by default)."""
    run_migrations(engine, _MIGRATIONS, revision, advisory_key=_ADVISORY_LOCK_KEY)


def open_gateway_engine(url: str) -> Engine:
    """An engine on the gateway's database, created private and migrated to head."""
    engine = create_store_engine(url, private=True)
    upgrade(engine)
    return engine
