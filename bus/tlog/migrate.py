"""Schema migrations of the log's tables, run by the log at start.

The same shape as the tracker's (:mod:`bus.store.migrate`): concurrent starts are
serialised by an advisory lock on PostgreSQL; on SQLite one log writes one file.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from bus.store import translate_errors
from bus.store.migrate import ALEMBIC_LOCK

__all__ = ["upgrade"]

# An arbitrary, fixed key for pg_advisory_lock: "edx tlog migrations".
_ADVISORY_LOCK_KEY = 0x6564785F746C67


def _config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("bus.tlog").joinpath("migrations"))
    )
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the log's tables in ``engine``'s database to ``revision``."""
    with translate_errors("log database"), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        config = _config()
        config.attributes["connection"] = connection
        with ALEMBIC_LOCK:  # alembic's proxies are process-wide (see bus.store.migrate)
            command.upgrade(config, revision)
