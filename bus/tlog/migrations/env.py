"""Alembic environment of the log's tables.

Run programmatically through :func:`bus.tlog.migrate.upgrade`, or by an operator
with ``alembic -c bus/tlog/alembic.ini -x url=URL upgrade head``. The version table
is ``tlog_alembic_version``, so the tracker's migrations and these never collide
in a shared database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from bus.tlog.schema import METADATA

VERSION_TABLE = "tlog_alembic_version"
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the database with -x url=URL")
    engine = create_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


_main()
