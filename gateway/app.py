"""The gateway's ASGI application and its server, wired in one place from settings.

``create_app`` builds the parts (database, systems, custody, outboxes, the inbox
reader, the directory) and runs the background tasks inside the application's
lifespan, so no task outlives the server. ``serve`` runs it on uvicorn with a short
keep-alive (the hub SDK leaves idle connections open).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bus import Settings, get_logger, make_verifier
from gateway.answers import KeptAnswers
from gateway.config import GatewayConfig
from gateway.custody import Custody
from gateway.directory_view import DirectoryView
from gateway.errors import UnavailableError
from gateway.inbound import InboxPump
from gateway.limits import RateLimiter
from gateway.native_api import create_native_api, problem_for_status
from gateway.outboxes import Outboxes
from gateway.service import Gateway
from gateway.store import open_gateway_engine
from gateway.systems import SystemRegistry
from gateway.tracking import TrackerView
from gateway.vxp import VxpProtocol

__all__ = ["GatewayParts", "create_app", "serve", "serving"]

_log = get_logger("gateway")

#: The idle keep-alive timeout (VXP_HTTP_API.md §2 recommends 15-60 s).
KEEP_ALIVE_SECONDS = 30


@dataclass
class GatewayParts:
    """Everything a running gateway holds (the application's ``state.parts``)."""

    settings: Settings
    config: GatewayConfig
    gateway: Gateway
    pump: InboxPump
    directory: DirectoryView


def build_parts(settings: Settings, config: GatewayConfig) -> GatewayParts:
    """Open the database and assemble the parts (nothing is started)."""
    engine = open_gateway_engine(config.db_url)
    registry = SystemRegistry(engine)
    verifier = make_verifier(settings)
    outboxes = Outboxes(settings, config.state_dir / "outbox")
    custody = Custody(settings, verifier)
    limiter = RateLimiter(config.rate_per_system, config.burst_per_system)
    directory = DirectoryView(settings)
    gateway = Gateway(
        settings,
        engine,
        registry,
        custody,
        outboxes,
        TrackerView(settings),
        limiter,
        directory,
        KeptAnswers(engine, config.answers_kept_for),
    )
    pump = InboxPump(
        settings, engine, registry, verifier, outboxes, refresh_seconds=config.refresh_seconds
    )
    return GatewayParts(settings, config, gateway, pump, directory)


def create_app(settings: Settings, config: GatewayConfig | None = None) -> Starlette:
    """The gateway's ASGI application: the hub protocol at ``/vxp``, the native API at
    ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``)."""
    config = config or GatewayConfig.from_settings(settings)
    parts = build_parts(settings, config)
    (config.state_dir / "uploads").mkdir(parents=True, exist_ok=True)
    vxp = VxpProtocol(
        parts.gateway, parts.directory, config.max_upload_bytes, config.state_dir / "uploads"
    )
    native = create_native_api(
        parts.gateway, parts.directory, config.max_upload_bytes, config.state_dir / "uploads"
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await parts.gateway.outboxes.start()
        tasks = [
            asyncio.create_task(parts.pump.run(), name="gateway-inbox"),
            asyncio.create_task(parts.gateway.outboxes.run_resubmitter(), name="gateway-resubmit"),
        ]
        _log.info("gateway started for %d system(s)", len(parts.gateway.registry.all()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await parts.directory.stop()
            await parts.gateway.outboxes.stop()
            if parts.gateway.tracker is not None:
                parts.gateway.tracker.close()
            parts.gateway.engine.dispose()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return problem_for_status(int(status))

    methods = ["GET", "POST", "HEAD"]
    app = Starlette(
        routes=[
            Route("/healthz", health, methods=["GET"]),
            Route("/vxp", vxp.handle, methods=methods),
            Route("/vxp/{operation:path}", vxp.handle, methods=methods),
            Mount("/api/v1", app=native),
        ],
        lifespan=lifespan,
        exception_handlers={404: http_error, 405: http_error},
    )
    app.state.parts = parts
    return app


class _QuietServer(uvicorn.Server):
    """A server that leaves signals to its host (``edx up`` stops on its own Ctrl-C)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str | None]:
    """The gateway served as a task of the caller's loop; its URL (``None`` for port 0)."""
    if not port:
        yield None
        return
    # The socket is bound here, not by uvicorn, whose failure to bind ends in
    # sys.exit: a taken port must reach `edx up` as one named error.
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as error:
        listener.close()
        raise UnavailableError(
            f"the gateway could not listen on {host}:{port}: {error.strerror or error}"
        ) from None
    server = _QuietServer(
        uvicorn.Config(
            create_app(settings),
            host=host,
            port=port,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            log_level="warning",
            server_header=False,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[listener]), name="edx-gateway")
    try:
        while not server.started:
            if task.done():
                with contextlib.suppress(SystemExit, OSError):
                    await task
                raise UnavailableError(f"the gateway could not start on {host}:{port}")
            await asyncio.sleep(0.05)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    config: GatewayConfig | None = None,
) -> None:
    """Run the gateway until interrupted (TLS: uvicorn's options or a reverse proxy)."""
    app = create_app(settings, config)
    uvicorn.run(
        app,
        host=host,
        port=port,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_level="warning",
        server_header=False,
    )
