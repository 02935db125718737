"""A scratch PostgreSQL database for one benchmark, dropped when it is done.

``EDX_BENCH_DATABASE_URL`` names the server (the test server by default); the
benchmark gets a fresh database on it so runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["POSTGRES", "scratch_database"]

POSTGRES = os.environ.get(
    "EDX_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The URL of a new database named ``{prefix}_{random}``, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
