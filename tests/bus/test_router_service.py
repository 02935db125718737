"""The router as a service: ``python -m bus.router``, a live directory, several routers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.directory import suspend_agency
from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_topic,
    register,
    route,
    router_environment,
    signed,
    submit,
)
from tests.service_processes import start_service

pytestmark = pytest.mark.kafka

CENTRAL = "000.00.00.G22"
PROVINCE = "000.00.00.H41"
LATECOMER = "000.00.00.H44"
DISTRICT = "000.00.24.H44"


@pytest.fixture
async def settings(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> Settings:
    configured = bus_settings.with_overrides(pki=pki_dir)
    await register(configured, signer_for, [CENTRAL, PROVINCE, DISTRICT])
    return configured


async def _wait_for_records(settings: Settings, topic: str, count: int, within: float = 60) -> list:  # type: ignore[type-arg]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        records = await read_topic(settings, topic)
        if len(records) >= count or loop.time() > deadline:
            return records
        await asyncio.sleep(0.3)


async def test_running_router_sees_new_agencies_and_suspensions(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    async with quick_router(settings) as router:
        while not router.assignment:
            await router.route_available(timeout_ms=300)
        # Registered after the router loaded its directory.
        await register(settings, signer_for, [LATECOMER])
        await submit(
            settings, signed(document(CENTRAL, [LATECOMER]), signer_for(CENTRAL)), sender=CENTRAL
        )
        await route(router, 1)
        assert router.stats.rejected == 0
        assert len(await read_topic(settings, settings.topics.inbox(LATECOMER))) == 1

        await suspend_agency(settings, PROVINCE)
        await asyncio.sleep(1.1)  # the router's view of the directory may be a second old
        await submit(
            settings, signed(document(CENTRAL, [PROVINCE]), signer_for(CENTRAL)), sender=CENTRAL
        )
        await route(router, 2)
        assert router.stats.reasons == {"inactive-agency": 1}


async def test_python_m_bus_router_routes_until_sigterm(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    package = document(CENTRAL, [PROVINCE])
    await submit(settings, signed(package, signer_for(CENTRAL)), sender=CENTRAL)
    process = await start_service("bus.router", router_environment(settings))
    try:
        delivered = await _wait_for_records(settings, settings.topics.inbox(PROVINCE), 1)
        assert [r.headers["edx-document-id"] for r in delivered] == [package.document_id]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    assert b'"router started"' in err or b"router started" in err


@pytest.mark.slow
async def test_two_routers_in_one_group_share_the_work(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    senders = [CENTRAL, PROVINCE, DISTRICT]
    packages = {
        sender: [signed(document(sender, [LATECOMER]), signer_for(sender)) for _ in range(4)]
        for sender in senders
    }
    await register(settings, signer_for, [LATECOMER])
    # Both routers share one group and one store (the same router_db_url).
    async with quick_router(settings) as one, quick_router(settings) as two:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while not (one.assignment and two.assignment):  # both joined: partitions split
            assert loop.time() < deadline, "the routers did not both join the group"
            await asyncio.gather(
                one.route_available(timeout_ms=300), two.route_available(timeout_ms=300)
            )
        assert one.assignment.isdisjoint(two.assignment)
        for sender, values in packages.items():
            for value in values:
                await submit(settings, value, sender=sender)
        deadline = loop.time() + 90
        while one.stats.handled + two.stats.handled < 12:
            assert loop.time() < deadline, (one.stats, two.stats)
            await asyncio.gather(
                one.route_available(timeout_ms=300), two.route_available(timeout_ms=300)
            )
        assert one.stats.handled + two.stats.handled == 12  # each package handled once
    inbox = await read_topic(settings, settings.topics.inbox(LATECOMER))
    assert sorted(r.value for r in inbox) == sorted(v for vs in packages.values() for v in vs)
