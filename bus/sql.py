"""The one SQL foundation of every edxbus store: engines, errors, timestamps, migrations.

Every SQL store (the tracker's, the log's, the router's acceptance store, the
gateway's, the agencies' local outbox and inbox store) opens its database, turns
driver errors into edxbus errors, stores timestamps and migrates its schema here,
so they all behave alike:

- :func:`create_store_engine`: SQLite is the embedded default, opened in WAL mode
  (readers never block the writer), with foreign keys on and a busy timeout so a
  reader and a writer wait for each other instead of failing; ``synchronous=NORMAL``
  by default (durable at every checkpoint), ``FULL`` for a ``durable`` store (the
  agency's outbox: a package survives power loss the moment it is written).
  PostgreSQL is the production database: connections are checked before use, so a
  server restart costs one retry, not a crash.
- :func:`database_errors`: every SQLAlchemy or driver exception raised in its block
  becomes :class:`~bus.errors.DatabaseUnavailableError` (retriable: the connection
  is gone, the server is down or busy) or :class:`~bus.errors.DatabaseError`
  (anything else), or the error classes a layer above names.
- :class:`UtcDateTime`: the one timestamp column type, UTC-aware in and out.
- :func:`record_columns` and :func:`position_columns`: the columns that find a Kafka
  record again and a consumer's position, typed alike in every store.
- :func:`run_migrations` and :func:`run_environment`: each schema's Alembic
  migrations in one transaction, concurrent starts serialised, with its own version
  table; a database created before its schema had migrations is adopted
  (:class:`Adoption`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from bus.errors import DatabaseError, DatabaseUnavailableError
from edxml.errors import EdxbusError

__all__ = [
    "ALEMBIC_LOCK",
    "SQLITE_PRAGMAS",
    "Adoption",
    "UtcDateTime",
    "create_store_engine",
    "database_errors",
    "position_columns",
    "record_columns",
    "redact",
    "run_environment",
    "run_migrations",
    "schema_revision",
]

#: Pragmas set on every SQLite connection (``synchronous`` is FULL for durable stores).
SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "10000"),
)

# SQLite messages that mean "try again later", not "your statement is wrong".
_SQLITE_TRANSIENT = ("database is locked", "database is busy", "unable to open database")


# --- engines --------------------------------------------------------------------------


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparsable database URL>"


def create_store_engine(
    url: str,
    *,
    must_exist: bool = False,
    written_by: str = "the service that writes it",
    durable: bool = False,
    private: bool = False,
) -> Engine:
    """An engine for a store's database at ``url`` (SQLite or PostgreSQL).

    With ``must_exist``, a SQLite file that does not exist is an error instead of
    being created empty (a reader's queries must not invent a database); the error
    asks whether ``written_by`` runs, so a clerk knows what to start. A
    ``durable`` SQLite store syncs every commit to the disk (``synchronous=FULL``);
    a ``private`` SQLite file is created readable by its owner only (0600; SQLite
    gives its WAL and journal files the same mode).
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
                    f"database {path} does not exist (is {written_by} running?)"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if private:
                    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
                    os.chmod(path, 0o600)
            except OSError as exc:
                raise DatabaseError(f"cannot open database {path}: {exc}") from exc
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
        pragmas = tuple(
            (name, "FULL" if durable and name == "synchronous" else value)
            for name, value in SQLITE_PRAGMAS
        )
        event.listen(engine, "connect", _sqlite_on_connect(pragmas))
    return engine


def _sqlite_on_connect(
    pragmas: tuple[tuple[str, str], ...],
) -> Callable[[Any, ConnectionPoolEntry], None]:
    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for name, value in pragmas:
                cursor.execute(f"PRAGMA {name}={value}")
        finally:
            cursor.close()

    return on_connect


# --- errors ---------------------------------------------------------------------------


def _is_transient(error: sa_exc.SQLAlchemyError) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        original = getattr(error, "orig", None)
        if isinstance(original, sqlite3.OperationalError):
            message = str(original).lower()
            return any(marker in message for marker in _SQLITE_TRANSIENT)
        return True
    return isinstance(error, sa_exc.DisconnectionError)


@contextmanager
def database_errors(
    what: str = "database",
    *,
    error: Callable[[str], Exception] = DatabaseError,
    unavailable: Callable[[str], Exception] = DatabaseUnavailableError,
) -> Iterator[None]:
    """Turn database driver exceptions raised inside the block into edxbus errors.

    ``what`` names the database in the message. A layer with errors of its own
    (the agency's :class:`~agency_client.errors.OutboxError`) names them as
    ``error`` and ``unavailable``.
    """
    try:
        yield
    except sa_exc.SQLAlchemyError as exc:
        detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        if _is_transient(exc):
            raise unavailable(f"{what} is unreachable: {detail}") from exc
        raise error(f"{what}: {detail}") from exc
    except (ConnectionError, TimeoutError) as exc:
        if isinstance(exc, EdxbusError):  # already named (a broker's, say): not ours
            raise
        raise unavailable(f"{what} is unreachable: {exc}") from exc


# --- timestamps -----------------------------------------------------------------------


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back UTC-aware.

    SQLite has no time zones and returns naive values; PostgreSQL returns aware
    ones. Both come back as aware UTC datetimes, and naive values are refused on
    the way in, so a local-time value can never slip into a store.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored: use UTC-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# --- columns --------------------------------------------------------------------------


def record_columns(prefix: str = "", *, nullable: bool = True) -> tuple[Column[Any], ...]:
    """Where a Kafka record is: ``<prefix>topic``, ``<prefix>partition``, ``<prefix>offset``."""
    return (
        Column(f"{prefix}topic", String(255), nullable=nullable),
        Column(f"{prefix}partition", Integer, nullable=nullable),
        Column(f"{prefix}offset", BigInteger, nullable=nullable),
    )


def position_columns() -> tuple[Column[Any], ...]:
    """A consumer's next offset (``next_offset``) per ``topic`` and ``partition`` (the key).

    Written in the same transaction as the rows the records before it produced.
    """
    return (
        Column("topic", String(255), primary_key=True),
        Column("partition", Integer, primary_key=True, autoincrement=False),
        Column("next_offset", BigInteger, nullable=False),
    )


# --- migrations -----------------------------------------------------------------------

#: Alembic's ``context`` and ``op`` are process-wide proxies: two migrations running
#: at once in one process (the tracker's and the log's, started together by the
#: embedded stack) would swap each other's. Every programmatic migration holds this.
ALEMBIC_LOCK = threading.Lock()


@dataclass(frozen=True)
class Adoption:
    """How a database created before its schema had migrations is taken over.

    When the schema's version table is absent but one of ``tables`` exists, the
    database was made by the code that predates the migrations: ``prepare`` (if
    any) brings what an older release left to exactly ``revision``'s schema (adding
    what it lacked, never dropping data), then the database is stamped at
    ``revision`` and migrated on from there like any other.
    """

    revision: str
    tables: tuple[str, ...]
    prepare: Callable[[Connection], None] | None = None


def schema_revision(connection: Connection, version_table: str = "alembic_version") -> str | None:
    """The revision a schema is at in this database, ``None`` when never migrated."""
    migration = MigrationContext.configure(connection, opts={"version_table": version_table})
    return migration.get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on ``<database>.migrate.lock`` while migrating a SQLite file."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: one writer per SQLite file is the rule anyway
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_migrations(
    engine: Engine,
    script_location: str | os.PathLike[str] | Traversable,
    revision: str,
    *,
    advisory_key: int,
) -> None:
    """Run one schema's Alembic migrations to ``revision`` as one transaction.

    Every schema of edxbus migrates through here, so all share the same
    guarantees: concurrent starts are serialised (a PostgreSQL advisory lock on
    ``advisory_key``; on SQLite an exclusive lock on a file beside the database and
    ``BEGIN IMMEDIATE``), and a process killed half-way leaves the schema as it
    was. The explicit ``BEGIN`` matters on SQLite: Python's sqlite3 opens no
    transaction before DDL, so without it each ``CREATE TABLE`` commits alone and a
    migration killed before its version row leaves tables that the next start tries
    to create again.
    """
    config = Config()
    config.set_main_option("script_location", str(script_location))
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key})
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        with ALEMBIC_LOCK:
            command.upgrade(config, revision)


def _unversioned(connection: Connection, version_table: str, tables: tuple[str, ...]) -> bool:
    inspector = inspect(connection)
    if inspector.has_table(version_table):
        return False
    return any(inspector.has_table(table) for table in tables)


def _migrating() -> bool:
    """Whether the running Alembic command moves the schema (not ``current``, ``history``)."""
    try:
        context.get_revision_argument()
    except KeyError:
        return False
    return True


def run_environment(
    metadata: MetaData, *, version_table: str = "alembic_version", adopt: Adoption | None = None
) -> None:
    """The body of every schema's Alembic ``env.py``.

    Programmatically (:func:`run_migrations`) the open connection arrives in
    ``config.attributes["connection"]``; an operator's ``alembic -c ... -x url=URL
    upgrade head`` names the database instead. Each schema keeps its own version
    table, so schemas sharing one database never collide. ``adopt`` takes over a
    database made before the schema had migrations (see :class:`Adoption`), in the
    migration's own transaction, by either way.
    """
    config = context.config

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table=version_table,
        )
        with context.begin_transaction():
            if (
                adopt is not None
                and _migrating()
                and _unversioned(connection, version_table, adopt.tables)
            ):
                if adopt.prepare is not None:
                    adopt.prepare(connection)
                context.get_context().stamp(ScriptDirectory.from_config(config), adopt.revision)
            context.run_migrations()

    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database with -x url=URL")
    # One transaction, as programmatically: an interrupted upgrade leaves nothing half-done.
    engine = create_store_engine(url)
    try:
        with _sqlite_file_lock(engine), engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            run(connection)
    finally:
        engine.dispose()
