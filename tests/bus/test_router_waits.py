"""The router waits for its broker and its store instead of exiting.

A supervisor (``edx up``, systemd) may start the router before the broker or
the database answers, or bring them back after it; the router must wait with
backoff, route once they are there, lose nothing and close every client it
opened on the way. Nothing is mocked: a real broker is started late on the port
the router was given, and a real PostgreSQL database refuses connections.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker, free_port
from bus.router import run_router
from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import document, read_topic, register, signed, submit
from tests.bus.test_router_outage import _set_connections
from tests.service_tasks import running_service

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"


async def _until_delivered(
    settings: Settings, task: asyncio.Task[None], *, within: float
) -> list[object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        assert not task.done(), f"the router ended: {task.exception()!r}"
        copies = await read_topic(settings, settings.topics.inbox(RECIPIENT))
        if copies:
            return [c.value for c in copies]
        assert loop.time() < deadline, "the router did not deliver once it could"
        await asyncio.sleep(0.2)


async def test_router_started_before_its_broker_waits_and_routes(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer], tmp_path: Path
) -> None:
    port = free_port()
    settings = bus_settings.with_values(bootstrap=f"127.0.0.1:{port}").with_overrides(pki=pki_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async with running_service(lambda stop: run_router(settings, stop=stop)) as router:
            task = router.task
            await asyncio.sleep(3.0)  # several failed attempts against a closed port
            assert not task.done(), f"the router ended without a broker: {task.exception()!r}"
            async with EmbeddedBroker(port=port, log_path=tmp_path / "broker.log"):
                await register(settings, signer_for, [SENDER, RECIPIENT])
                package = document(SENDER, [RECIPIENT])
                data = signed(package, signer_for(SENDER))
                await submit(settings, data, sender=SENDER)
                assert await _until_delivered(settings, task, within=60) == [data]
                await router.stopped()
        gc.collect()
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    assert unclosed == []


@pytest.mark.postgres
async def test_router_started_before_its_store_waits_and_routes(
    bus_settings: Settings,
    pki_dir: Path,
    signer_for: Callable[[str], Signer],
    postgres_url: str,
) -> None:
    settings = bus_settings.with_overrides(pki=pki_dir, router_db_url=postgres_url)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    package = document(SENDER, [RECIPIENT])
    data = signed(package, signer_for(SENDER))
    await submit(settings, data, sender=SENDER)
    await asyncio.to_thread(_set_connections, postgres_url, False)
    async with running_service(lambda stop: run_router(settings, stop=stop)) as router:
        task = router.task
        try:
            await asyncio.sleep(3.0)
            assert not task.done(), f"the router ended without its store: {task.exception()!r}"
            assert await read_topic(settings, settings.topics.inbox(RECIPIENT)) == []
        finally:
            await asyncio.to_thread(_set_connections, postgres_url, True)
        assert await _until_delivered(settings, task, within=60) == [data]
        await asyncio.sleep(1.0)  # no second copy follows
        assert len(await read_topic(settings, settings.topics.inbox(RECIPIENT))) == 1
        await router.stopped()
