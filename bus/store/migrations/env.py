"""Alembic environment of the tracker's database.

Run programmatically through :func:`bus.store.migrate.upgrade`, or by an operator
with ``alembic -c bus/store/alembic.ini -x url=URL upgrade head``.
"""

from bus.sql import run_environment
from bus.store.schema import METADATA

run_environment(METADATA)
