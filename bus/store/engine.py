"""Opening the tracker's database, and the one place driver errors become edxbus errors.

SQLite is the embedded default: the file is opened in WAL mode (readers, such as the
clerk's ``edx status``, never block the tracker's writes) with ``synchronous=NORMAL``
(durable at every checkpoint, fast enough to keep up with the router) and a busy
timeout so a reader and the writer wait for each other instead of failing.
PostgreSQL is the production database: connections are checked before use, so a
server restart costs one retry, not a crash.

Every SQLAlchemy or driver exception raised while talking to the database is turned
into :class:`~bus.errors.DatabaseUnavailableError` (retriable: the connection is
gone, the server is down or busy) or :class:`~bus.errors.DatabaseError` (anything
else) by :func:`translate_errors`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from bus.errors import DatabaseError, DatabaseUnavailableError

__all__ = [
    "SQLITE_PRAGMAS",
    "create_store_engine",
    "is_schema_missing",
    "redact",
    "translate_errors",
]

#: Pragmas set on every SQLite connection.
SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "10000"),
)

# SQLite messages that mean "try again later", not "your statement is wrong".
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open database")


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparsable database URL>"


def create_store_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for the tracker's database at ``url`` (SQLite or PostgreSQL).

    With ``must_exist``, a SQLite file that does not exist is an error instead of
    being created empty (the clerk's queries must not invent a database).
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseError(f"database URL {url!r} is not valid: {exc}") from exc
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            path = Path(database)
            if must_exist and not path.exists():
                raise DatabaseUnavailableError(
                    f"tracker database {path} does not exist (is the tracker running?)"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        kwargs.update(
            pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 5}
        )
    else:
        raise DatabaseError(
            f"database {redact(url)}: only SQLite and PostgreSQL are supported, not {backend}"
        )
    try:
        engine = create_engine(parsed, **kwargs)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"cannot open database {redact(url)}: {exc}") from exc
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def _is_transient(error: sa_exc.SQLAlchemyError) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        original = getattr(error, "orig", None)
        if isinstance(original, sqlite3.OperationalError):
            text = str(original).lower()
            return any(marker in text for marker in _SQLITE_TRANSIENT)
        return True
    return isinstance(error, sa_exc.DisconnectionError)


def is_schema_missing(engine: Engine) -> bool:
    """Whether the tracker's tables are absent (a database never migrated)."""
    with translate_errors(engine.url.render_as_string(hide_password=True)):
        return not inspect(engine).has_table("history")


@contextmanager
def translate_errors(what: str = "tracker database") -> Iterator[None]:
    """Turn driver exceptions raised inside the block into edxbus database errors."""
    try:
        yield
    except sa_exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if _is_transient(exc):
            raise DatabaseUnavailableError(f"{what} is unreachable: {detail}") from exc
        raise DatabaseError(f"{what}: {detail}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise DatabaseUnavailableError(f"{what} is unreachable: {exc}") from exc
