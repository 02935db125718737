"""Alembic environment of the router's acceptance store.

Run programmatically when the store opens (:meth:`bus.acceptance.AcceptanceStore.open`),
or by an operator with ``alembic -c bus/acceptance_migrations/alembic.ini -x url=URL
upgrade head``. The version table is ``acceptance_alembic_version``, so the store
may share a database with the tracker's and the log's tables. A store created before
it had migrations is adopted at revision ``acceptance0001``.
"""

from bus.acceptance import ADOPTION, VERSION_TABLE, metadata
from bus.sql import run_environment

run_environment(metadata, version_table=VERSION_TABLE, adopt=ADOPTION)
