"""A real gateway (uvicorn on a free loopback port) over the test's bus, and its systems."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from bus import Settings
from gateway import GatewayConfig, SystemRegistry, create_app, open_gateway_engine

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gateway_config(tmp: Path, **overrides: Any) -> GatewayConfig:
    values: dict[str, Any] = {
        "db_url": f"sqlite:///{tmp / 'gateway' / 'gateway.db'}",
        "state_dir": tmp / "gateway",
        "max_upload_bytes": 2 * 1024 * 1024,
        "refresh_seconds": 0.5,
    }
    values.update(overrides)
    return GatewayConfig(**values)


def add_system(config: GatewayConfig, system_id: str, agencies: list[str], secret: str) -> None:
    engine = open_gateway_engine(config.db_url)
    try:
        SystemRegistry(engine).add(system_id, agencies, secret)
    finally:
        engine.dispose()


@dataclass
class RunningGateway:
    url: str
    config: GatewayConfig


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, config: GatewayConfig
) -> AsyncIterator[RunningGateway]:
    """uvicorn serving the gateway as a task of the test; shut down and awaited on exit."""
    port = free_port()
    app = create_app(settings, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            timeout_keep_alive=30,
        )
    )
    task = asyncio.create_task(server.serve(), name="test-gateway")
    try:
        for _ in range(300):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "the gateway did not start"
        yield RunningGateway(f"http://127.0.0.1:{port}", config)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float = 60.0, what: str = "the condition"
) -> T:
    """Poll ``probe`` until it returns something truthy (or fail after ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
