"""Schema migrations of the tracker's database, run programmatically.

The tracker calls :func:`upgrade` at start, so a fresh SQLite file or an empty
PostgreSQL database is ready without a separate step, and a database written by an
older edxbus is brought up to date. Concurrent starts are serialised so that two
trackers never migrate at once: by an advisory lock on PostgreSQL, by an exclusive
lock on a file beside the database on SQLite.
"""

from __future__ import annotations

from importlib import resources

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from bus.sql import (
    ALEMBIC_LOCK,
    create_store_engine,
    database_errors,
    run_environment,
    run_migrations,
    schema_revision,
)
from bus.store.engine import TRACKER_DATABASE

__all__ = [
    "ALEMBIC_LOCK",
    "current_revision",
    "head_revision",
    "run_environment",
    "run_migrations",
    "upgrade",
]

# An arbitrary, fixed key for pg_advisory_lock: "edx tracker migrations".
_ADVISORY_LOCK_KEY = 0x6564785F747263
_MIGRATIONS = resources.files("bus.store") / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision shipped with this edxbus."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration revisions shipped in bus/store/migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` when it was never migrated."""
    with database_errors(TRACKER_DATABASE), engine.connect() as connection:
        return schema_revision(connection)


def upgrade(engine_url: str | Engine, revision: str = "head") -> None:
    """Bring the database at ``engine_url`` to ``revision`` (the newest by default)."""
    engine = engine_url if isinstance(engine_url, Engine) else create_store_engine(engine_url)
    try:
        with database_errors(TRACKER_DATABASE):
            run_migrations(engine, _MIGRATIONS, revision, advisory_key=_ADVISORY_LOCK_KEY)
    finally:
        if not isinstance(engine_url, Engine):
            engine.dispose()
