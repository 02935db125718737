"""Alembic environment of the gateway's database.

Run programmatically through :func:`gateway.store.upgrade`, or by an operator with
``alembic -c gateway/store/alembic.ini -x url=URL upgrade head``.
"""

from bus import run_environment
from gateway.store.schema import METADATA

run_environment(METADATA, version_table="gw_alembic_version")
