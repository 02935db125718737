"""Schema migrations of the tracker's database, run programmatically.

The tracker calls :func:`upgrade` at start, so a fresh SQLite file or an empty
PostgreSQL database is ready without a separate step, and a database written by an
older edxbus is brought up to date. Concurrent starts are serialised so that two
trackers never migrate at once: by an advisory lock on PostgreSQL, by an exclusive
lock on a file beside the database on SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, text

from bus.store.engine import create_store_engine, translate_errors

__all__ = [
    "ALEMBIC_LOCK",
    "current_revision",
    "head_revision",
    "run_environment",
    "run_migrations",
    "upgrade",
]

#: Alembic's ``context`` and ``op`` are process-wide proxies: two migrations running
#: at once in one process (the tracker's and the log's, started together by the
#: embedded stack) would swap each other's. Every programmatic migration holds this.
ALEMBIC_LOCK = threading.Lock()

# An arbitrary, fixed key for pg_advisory_lock: "edx tracker migrations".
_ADVISORY_LOCK_KEY = 0x6564785F747263


def _config() -> Config:
    location = resources.files("bus.store").joinpath("migrations")
    config = Config()
    config.set_main_option("script_location", str(location))
    return config


def head_revision() -> str:
    """The newest revision shipped with this edxbus."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migration revisions shipped in bus/store/migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, ``None`` when it was never migrated."""
    with translate_errors(), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on ``<database>.migrate.lock`` while migrating a SQLite file."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: one tracker per SQLite file is the rule anyway
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
    engine: Engine, script_location: str, revision: str, *, advisory_key: int
) -> None:
    """Run one schema's Alembic migrations to ``revision`` as one transaction.

    Every schema of edxbus (the tracker's, the log's, the gateway's) migrates
    through here, so all share the same guarantees: concurrent starts are
    serialised (a PostgreSQL advisory lock on ``advisory_key``; on SQLite an
    exclusive lock on a file beside the database and ``BEGIN IMMEDIATE``), and a
    process killed half-way leaves the schema as it was. The explicit ``BEGIN``
    matters on SQLite: Python's sqlite3 opens no transaction before DDL, so without
    it each ``CREATE TABLE`` commits alone and a migration killed before its
    version row leaves tables that the next start tries to create again.
    """
    config = Config()
    config.set_main_option("script_location", script_location)
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key})
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        with ALEMBIC_LOCK:
            command.upgrade(config, revision)


def run_environment(metadata: MetaData, *, version_table: str = "alembic_version") -> None:
    """The body of every schema's Alembic ``env.py`` (the tracker's, the log's, the gateway's).

    Programmatically (:func:`run_migrations`) the open connection arrives in
    ``config.attributes["connection"]``; an operator's ``alembic -c ... -x url=URL
    upgrade head`` names the database instead. Each schema keeps its own version
    table, so schemas sharing one database never collide.
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
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()


def upgrade(engine_url: str | Engine, revision: str = "head") -> None:
    """Bring the database at ``engine_url`` to ``revision`` (the newest by default)."""
    engine = engine_url if isinstance(engine_url, Engine) else create_store_engine(engine_url)
    try:
        with translate_errors():
            run_migrations(
                engine,
                str(resources.files("bus.store").joinpath("migrations")),
                revision,
                advisory_key=_ADVISORY_LOCK_KEY,
            )
    finally:
        if not isinstance(engine_url, Engine):
            engine.dispose()
