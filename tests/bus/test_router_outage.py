"""At-least-once through a real outage: the router's database goes away mid-run.

Nothing is mocked: the acceptance store lives on PostgreSQL, and the test closes
the database to connections while a package waits on ``edx.submit``. The router
must not commit past the package, must retry, and once the database is back must
deliver it exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bus.router import Router
from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import FAST_JOIN, document, read_topic, register, signed, submit

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"


def _set_connections(url: str, allowed: bool) -> None:
    """Open or close the test database to new connections, and drop the open ones."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = target.database
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
    finally:
        admin.dispose()


async def test_router_retries_through_a_database_outage_and_delivers_once(
    bus_settings: Settings,
    pki_dir: Path,
    signer_for: Callable[[str], Signer],
    postgres_url: str,
) -> None:
    settings = bus_settings.with_overrides(pki=pki_dir, router_db_url=postgres_url)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    stop = asyncio.Event()
    async with Router(settings, consumer_options=FAST_JOIN) as router:
        task = asyncio.create_task(router.run(stop))
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not router.assignment:
                assert loop.time() < deadline, "the router did not join its group"
                await asyncio.sleep(0.1)
            await asyncio.to_thread(_set_connections, postgres_url, False)
            try:
                package = document(SENDER, [RECIPIENT])
                await submit(settings, signed(package, signer_for(SENDER)), sender=SENDER)
                while router.stats.failed_batches == 0:  # it read the package and failed
                    assert loop.time() < deadline, "the router never tried the package"
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)
                assert router.stats.handled == 0  # nothing half-routed
                assert not task.done()  # a retriable failure does not end the service
                assert await read_topic(settings, settings.topics.inbox(RECIPIENT)) == []
            finally:
                await asyncio.to_thread(_set_connections, postgres_url, True)
            delivered: list[object] = []
            while not delivered:
                assert loop.time() < deadline + 60, "the package was never delivered"
                delivered = await read_topic(settings, settings.topics.inbox(RECIPIENT))
                await asyncio.sleep(0.3)
        finally:
            stop.set()
            await task
    assert len(await read_topic(settings, settings.topics.inbox(RECIPIENT))) == 1
    assert router.stats.rejected == 0
    assert router.stats.delivered == 1
