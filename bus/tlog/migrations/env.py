"""Alembic environment of the log's tables.

Run programmatically through :func:`bus.tlog.migrate.upgrade`, or by an operator
with ``alembic -c bus/tlog/alembic.ini -x url=URL upgrade head``. The version table
is ``tlog_alembic_version``, so the tracker's migrations and these never collide
in a shared database.
"""

from bus.sql import run_environment
from bus.tlog.schema import METADATA

run_environment(METADATA, version_table="tlog_alembic_version")
