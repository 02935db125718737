"""Alembic environment of an agency's local file (the outbox's and the inbox store's tables).

Run programmatically when a store opens the file (:class:`agency_client._store.LocalDatabase`),
or by an operator with ``alembic -c agency_client/migrations/alembic.ini
-x url=sqlite:///PATH upgrade head``. The version table is ``agency_alembic_version``.
A file written before the schema had migrations is adopted at revision ``agency0001``.
"""

# The stores' modules define their tables in METADATA.
import agency_client._inbox_store
import agency_client.outbox  # noqa: F401
from agency_client._store import ADOPTION, METADATA, VERSION_TABLE
from bus import run_environment

run_environment(METADATA, version_table=VERSION_TABLE, adopt=ADOPTION)
