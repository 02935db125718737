"""A router killed with SIGKILL is back at work within seconds of its restart.

A killed member never leaves its consumer group; the group waits for it until
its session times out before handing its partitions to the restarted router.
The settings' session timeout and heartbeat interval bound that wait
(:data:`bus.settings.Settings.session_timeout_ms`); the figure is printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from bus.kafka import SHORT_SESSION_MS, group_timing, probe_features
from bus.settings import TOPIC_ENV_PREFIX, Settings
from signing import Signer
from tests.bus.routing_helpers import document, read_topic, register, signed, submit

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CENTRAL = "000.00.00.G22"
PROVINCE = "000.00.00.H41"


def _environment(settings: Settings) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        {
            "EDX_HOME": str(settings.home),
            "EDX_BOOTSTRAP": settings.broker.bootstrap,
            "EDX_PKI": str(settings.resolved_pki),
            "EDX_ROUTER_GROUP": settings.groups.router,
            "EDX_LOG_FORMAT": "json",
        }
    )
    for field in fields(settings.topics):
        environment[f"{TOPIC_ENV_PREFIX}{field.name.upper()}"] = getattr(
            settings.topics, field.name
        )
    return environment


async def _router(settings: Settings) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bus.router",
        env=_environment(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _delivered(settings: Settings, count: int, within: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(await read_topic(settings, settings.topics.inbox(PROVINCE))) < count:
        assert loop.time() < deadline, f"fewer than {count} package(s) routed in {within} s"
        await asyncio.sleep(0.1)


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
    await submit(
        settings, signed(document(CENTRAL, [PROVINCE]), signer_for(CENTRAL)), sender=CENTRAL
    )
    first = await _router(settings)
    try:
        started = time.monotonic()
        await _delivered(settings, 1)
        cold = time.monotonic() - started
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    # Killed: it never left the group. The next one must not wait long for it.
    await submit(
        settings, signed(document(CENTRAL, [PROVINCE]), signer_for(CENTRAL)), sender=CENTRAL
    )
    second = await _router(settings)
    try:
        started = time.monotonic()
        await _delivered(settings, 2)
        warm = time.monotonic() - started
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 60)
    print(
        f"\nrouter (session {timing['session_timeout_ms']} ms): first start to routed "
        f"{cold:.1f} s; restart after kill -9 to routed {warm:.1f} s"
    )
