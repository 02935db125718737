"""Schema migrations of the log's tables, run by the log at start.

The same shape as the tracker's (:mod:`bus.store.migrate`): both run through
:func:`bus.store.migrate.run_migrations` (one transaction, concurrent starts serialised).
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Engine

from bus.sql import database_errors
from bus.store.migrate import run_migrations

__all__ = ["upgrade"]

# An arbitrary, fixed key for pg_advisory_lock: "edx tlog migrations".
_ADVISORY_LOCK_KEY = 0x6564785F746C67


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the log's tables in ``engine``'s database to ``revision``."""
    with database_errors("log database"):
        run_migrations(
            engine,
            str(resources.files("bus.tlog").joinpath("migrations")),
            revision,
            advisory_key=_ADVISORY_LOCK_KEY,
        )
