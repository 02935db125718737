"""A router killed with SIGKILL is back at work within seconds of its restart.

A killed member never leaves its consumer group; the group waits for it until
its session times out before handing its partitions to the restarted router.
The settings' session timeout and heartbeat interval bound that wait
(:data:`bus.settings.Settings.session_timeout_ms`); the figure is printed.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.kafka import SHORT_SESSION_MS, group_timing, probe_features
from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import (
    document,
    read_topic,
    register,
    router_environment,
    signed,
    submit,
)
from tests.service_processes import seconds_to_work, start_service

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CENTRAL = "000.00.00.G22"
PROVINCE = "000.00.00.H41"


async def _router(settings: Settings) -> asyncio.subprocess.Process:
    return await start_service(
        "bus.router", router_environment(settings), output=asyncio.subprocess.DEVNULL
    )


async def _delivered(settings: Settings, count: int, within: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(await read_topic(settings, settings.topics.inbox(PROVINCE))) < count:
        assert loop.time() < deadline, f"fewer than {count} package(s) routed in {within} s"
        await asyncio.sleep(0.1)


async def _route_one(
    settings: Settings,
    signer_for: Callable[[str], Signer],
    *,
    delivered: int,
    ending: signal.Signals,
) -> float:
    """Seconds a new router process takes to route one more package, ended then."""
    await submit(
        settings, signed(document(CENTRAL, [PROVINCE]), signer_for(CENTRAL)), sender=CENTRAL
    )
    return await seconds_to_work(
        await _router(settings), lambda: _delivered(settings, delivered), ending
    )


async def test_a_router_restarted_after_kill_9_routes_again_quickly(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [CENTRAL, PROVINCE])
    # The mechanism: a group session as short as the broker allows, not aiokafka's
    # 10 s (a killed member is waited for a whole session, twice over in practice).
    features = await probe_features(settings)
    timing = group_timing(settings)
    assert timing["session_timeout_ms"] == max(
        SHORT_SESSION_MS, features.min_session_timeout_ms or 0
    )
    assert timing["heartbeat_interval_ms"] < timing["session_timeout_ms"] // 3
    # Killed: the first never leaves the group. The second must not wait long for it.
    cold = await _route_one(settings, signer_for, delivered=1, ending=signal.SIGKILL)
    warm = await _route_one(settings, signer_for, delivered=2, ending=signal.SIGTERM)
    print(
        f"\nrouter (session {timing['session_timeout_ms']} ms): first start to routed "
        f"{cold:.1f} s; restart after kill -9 to routed {warm:.1f} s"
    )
