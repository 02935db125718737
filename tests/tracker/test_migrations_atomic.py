"""A migration is one transaction: a failure (or a kill) half-way leaves no table behind.

Python's sqlite3 opens no transaction before DDL, so each CREATE TABLE used to
commit alone: an `edx up` killed while its log migrated left tables without a
version row, and the next start failed with "table ... already exists".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bus import create_store_engine, run_migrations
from bus.sql import schema_revision

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


# A schema whose tables were made before it had migrations: adopted, or left untouched.
_ADOPTING_ENV = """
from sqlalchemy import MetaData

from bus.sql import Adoption, run_environment


def prepare(connection):
    connection.exec_driver_sql("CREATE INDEX ix_old_a ON old (a)")
    if connection.exec_driver_sql("SELECT count(*) FROM old").scalar() > 1:
        raise RuntimeError("killed while adopting")


run_environment(
    MetaData(), version_table="t_alembic_version", adopt=Adoption("r1", ("old",), prepare)
)
"""

_ADOPTED_REVISIONS = {
    "r1.py": """
import sqlalchemy as sa
from alembic import op

revision = "r1"
down_revision = None

def upgrade():
    op.create_table("old", sa.Column("a", sa.Integer))
""",
    "r2.py": """
import sqlalchemy as sa
from alembic import op

revision = "r2"
down_revision = "r1"

def upgrade():
    op.create_table("new", sa.Column("id", sa.Integer, primary_key=True))
""",
}


@pytest.fixture
def adopting_scripts(tmp_path: Path) -> Path:
    scripts = tmp_path / "adopting"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(_ADOPTING_ENV)
    for name, body in _ADOPTED_REVISIONS.items():
        (scripts / "versions" / name).write_text(body)
    return scripts


@pytest.mark.parametrize(("rows", "adopted"), [(1, True), (2, False)])
def test_an_unversioned_schema_is_adopted_in_the_migrations_transaction(
    db_url: str, adopting_scripts: Path, rows: int, adopted: bool
) -> None:
    engine = create_store_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE old (a INTEGER)")
            for value in range(rows):
                connection.execute(text("INSERT INTO old (a) VALUES (:a)"), {"a": value})
        if adopted:
            run_migrations(engine, str(adopting_scripts), "head", advisory_key=0x7465737402)
        else:
            with pytest.raises(RuntimeError, match="killed while adopting"):
                run_migrations(engine, str(adopting_scripts), "head", advisory_key=0x7465737402)
        schema = inspect(engine)
        tables = set(schema.get_table_names())
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM old")).scalar() == rows
            if adopted:
                assert schema_revision(connection, "t_alembic_version") == "r2"
        assert ("new" in tables) is adopted
        assert ("t_alembic_version" in tables) is adopted
        indexes = {index["name"] for index in schema.get_indexes("old")}
        assert ("ix_old_a" in indexes) is adopted
    finally:
        engine.dispose()
