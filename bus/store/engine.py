"""Opening the tracker's database: through the one SQL foundation, :mod:`bus.sql`.

The engine, the pragmas and the translation of driver errors are shared by every
store (see :mod:`bus.sql`); what is the tracker's own is its name in messages and
the question whether its schema was ever created.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, inspect

from bus.sql import SQLITE_PRAGMAS, create_store_engine, database_errors, redact

__all__ = [
    "SQLITE_PRAGMAS",
    "create_store_engine",
    "database_errors",
    "is_schema_missing",
    "redact",
    "translate_errors",
]


@contextmanager
def translate_errors(what: str = "tracker database") -> Iterator[None]:
    """:func:`bus.sql.database_errors`, naming the tracker's database by default.

    The older name of the one database error translation, kept for its callers.
    """
    with database_errors(what):
        yield


def is_schema_missing(engine: Engine) -> bool:
    """Whether the tracker's tables are absent (a database never migrated)."""
    with database_errors(engine.url.render_as_string(hide_password=True)):
        return not inspect(engine).has_table("history")
