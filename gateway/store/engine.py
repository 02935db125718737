"""Opening the gateway's database: a private SQLite file or PostgreSQL, migrated to head.

The database holds the systems' secrets, so a SQLite file is created readable by its
owner only (0600; SQLite gives its WAL and journal files the same mode). Concurrent
starts are serialised as for the tracker's database: an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bus import create_store_engine, run_migrations

__all__ = ["open_gateway_engine", "upgrade"]

# An arbitrary, fixed key for pg_advisory_xact_lock: "edx gateway migrations".
_ADVISORY_LOCK_KEY = 0x6564785F677779


def _private_sqlite_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if not database or database == ":memory:":
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the gateway's database to ``revision`` (the newest by default)."""
    run_migrations(
        engine,
        str(resources.files("gateway.store").joinpath("migrations")),
        revision,
        advisory_key=_ADVISORY_LOCK_KEY,
    )


def open_gateway_engine(url: str) -> Engine:
    """An engine on the gateway's database, created private and migrated to head."""
    _private_sqlite_file(url)
    engine = create_store_engine(url)
    upgrade(engine)
    return engine
