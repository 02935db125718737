"""The gateway's migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway import open_gateway_engine
from gateway.store.schema import METADATA


def test_the_migrations_match_the_declared_schema(db_url: str) -> None:
    engine = open_gateway_engine(db_url)
    try:
        open_gateway_engine(db_url).dispose()  # a second start finds nothing to do
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": "gw_alembic_version"}
            )
            assert compare_metadata(context, METADATA) == []
    finally:
        engine.dispose()
