"""Opening the tracker's database: through the one SQL foundation, :mod:`bus.sql`.

The engine, the pragmas and the translation of driver errors are shared by every
store (see :mod:`bus.sql`); what is the tracker's own is its name in messages and
the question whether its schema was ever created.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from bus.sql import SQLITE_PRAGMAS, create_store_engine, database_errors, redact

__all__ = [
    "SQLITE_PRAGMAS",
    "TRACKER_DATABASE",
    "create_store_engine",
    "database_errors",
    "is_schema_missing",
    "redact",
]


#: How messages name the tracker's database.
TRACKER_DATABASE = "tracker database"


def is_schema_missing(engine: Engine) -> bool:
    """Whether the tracker's tables are absent (a database never migrated)."""
    with database_errors(engine.url.render_as_string(hide_password=True)):
        return not inspect(engine).has_table("history")
