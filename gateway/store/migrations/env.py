"""Alembic environment of the gateway's database.

Run programmatically through :func:`gateway.store.upgrade` (which hands over an open
connection in ``config.attributes["connection"]``), or by an operator with
``alembic -c gateway/store/alembic.ini -x url=URL upgrade head``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from gateway.store.schema import METADATA

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table="gw_alembic_version",
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
