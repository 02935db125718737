"""The bus's services as separate processes, pointed at a test's settings.

The process tests (``python -m bus.router``, ``python -m bus.tracker``, the CLI, the
documented examples) prove that the environment alone configures a service, so they
write the environment from the test's settings the way an operator would: one
``EDX_*`` variable a setting, named as :mod:`bus.settings` reads them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import fields

from bus.settings import TOPIC_ENV_PREFIX, Settings, TopicNames


def topic_environment(topics: TopicNames) -> dict[str, str]:
    """``EDX_TOPIC_*`` for every topic name, so a process uses the test's own topics."""
    return {
        f"{TOPIC_ENV_PREFIX}{field.name.upper()}": getattr(topics, field.name)
        for field in fields(topics)
    }


def bus_environment(settings: Settings) -> dict[str, str]:
    """The variables that put a process on the test's broker, home, dev PKI and topics."""
    return {
        "EDX_HOME": str(settings.home),
        "EDX_BOOTSTRAP": settings.broker.bootstrap,
        "EDX_PKI": str(settings.resolved_pki),
        **topic_environment(settings.topics),
    }


async def start_service(
    module: str, environment: dict[str, str], *, output: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """``python -m <module>`` with this environment on top of the test run's own.

    ``output`` is where stdout and stderr go: PIPE to read the log afterwards,
    DEVNULL for a process that is killed (nobody reads its pipes).
    """
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        env={**os.environ, **environment},
        stdout=output,
        stderr=output,
    )


async def seconds_to_work(
    process: asyncio.subprocess.Process,
    worked: Callable[[], Awaitable[None]],
    ending: signal.Signals,
) -> float:
    """How long a started service took until ``worked`` returned; then ``ending`` it.

    The process is awaited after the signal, so the next life starts only once this
    one is gone (a SIGKILLed member still counts as in its group until its session ends).
    """
    try:
        started = time.monotonic()
        await worked()
        return time.monotonic() - started
    finally:
        process.send_signal(ending)
        await asyncio.wait_for(process.wait(), 60)
