"""A migration is one transaction: a failure (or a kill) half-way leaves no table behind.

Python's sqlite3 opens no transaction before DDL, so each CREATE TABLE used to
commit alone: an `edx up` killed while its log migrated left tables without a
version row, and the next start failed with "table ... already exists".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from bus import create_store_engine, run_migrations

_ENV = """
from alembic import context

def _run(connection):
    context.configure(connection=connection, version_table="t_alembic_version")
    with context.begin_transaction():
        context.run_migrations()

_run(context.config.attributes["connection"])
"""

_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "r1"
down_revision = None

def upgrade():
    op.create_table("first", sa.Column("id", sa.Integer, primary_key=True))
    op.create_table("second", sa.Column("id", sa.Integer, primary_key=True))
    raise RuntimeError("killed half-way")
"""


@pytest.fixture
def broken_scripts(tmp_path: Path) -> Path:
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(_ENV)
    (scripts / "versions" / "r1.py").write_text(_REVISION)
    return scripts


def test_a_migration_that_fails_half_way_leaves_no_table(db_url: str, broken_scripts: Path) -> None:
    engine = create_store_engine(db_url)
    try:
        with pytest.raises(RuntimeError, match="killed half-way"):
            run_migrations(engine, str(broken_scripts), "head", advisory_key=0x7465737401)
        tables = set(inspect(engine).get_table_names())
        assert not {"first", "second", "t_alembic_version"} & tables
    finally:
        engine.dispose()
