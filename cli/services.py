"""edx commands that run the bus: ``router run``, ``tracker run``, ``topics init``, ``up``.

Each runs in the foreground until Ctrl-C (SIGINT) or SIGTERM, which ask the
service to finish its batch, commit, and stop: the same path a container stop
takes in docker/compose.yaml. Logs go to stderr in ``settings.log_format``;
metrics are served on ``settings.metrics_port`` (``--metrics-port``) when set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import click

from bus import (
    EmbeddedStack,
    LogSettings,
    Settings,
    configure_logging,
    ensure_topics,
    load_settings,
    running_bus,
    start_metrics_server,
)
from gateway import serving

__all__ = ["COMMANDS"]

ServiceRunner = Callable[..., Awaitable[None]]


def _settings(home: Path | None, metrics_port: int | None = None) -> Settings:
    return load_settings(home=home, metrics_port=metrics_port)


@contextlib.contextmanager
def _on_stop_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM ask for a clean stop instead of killing the process mid-batch."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, request_stop)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run_service(settings: Settings, run: ServiceRunner) -> None:
    stop = asyncio.Event()
    with _on_stop_signals(stop.set):
        await run(settings, stop=stop)


def _serve(settings: Settings, run: ServiceRunner) -> None:
    configure_logging(settings)
    server = start_metrics_server(settings)
    if server is not None:
        click.echo(f"metrics: {server.url}", err=True)
    try:
        # The endpoint is served here once; the service must not open the port again.
        asyncio.run(_run_service(replace(settings, metrics_port=0), run))
    finally:
        if server is not None:
            server.stop()


def _quiet_one_shot(settings: Settings) -> None:
    """A one-shot command reports its failure as one named error, not the client's log."""
    configure_logging(settings, level="WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


_home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (EDX_HOME, default ./.edx).",
)
_metrics_option = click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port (EDX_METRICS_PORT; 0 = off).",
)


@click.group("router")
def router_group() -> None:
    """The router: edx.submit -> verified -> recipients' inboxes + events."""


@router_group.command("run")
@_home_option
@_metrics_option
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes that verify and parse packages (EDX_ROUTER_WORKERS; default: the cores).",
)
def router_run(home: Path | None, metrics_port: int | None, workers: int | None) -> None:
    """Run one router in the foreground (scale by running more)."""
    from bus import run_router

    settings = _settings(home, metrics_port)
    if workers is not None:
        settings = replace(settings, router_workers=workers)
    _serve(settings, run_router)


@click.group("tracker")
def tracker_group() -> None:
    """The tracker: edx.events -> the SQL database the clerk commands read."""


@tracker_group.command("run")
@_home_option
@_metrics_option
def tracker_run(home: Path | None, metrics_port: int | None) -> None:
    """Run the tracker in the foreground."""
    from bus import run_tracker

    _serve(_settings(home, metrics_port), run_tracker)


@click.group("topics")
def topics_group() -> None:
    """Topic administration (DESIGN.md §3)."""


@topics_group.command("init")
@_home_option
@click.option("--agency", "agencies", multiple=True, metavar="CODE", help="Also create this inbox.")
def topics_init(home: Path | None, agencies: tuple[str, ...]) -> None:
    """Create the bus topics (and inboxes) unless they exist; safe to repeat."""
    settings = _settings(home)
    _quiet_one_shot(settings)
    asyncio.run(ensure_topics(settings, agencies))
    names = settings.topics
    created = [names.submit, names.events, names.deadletter, names.agencies]
    created += [names.inbox(code) for code in agencies]
    click.echo(
        f"topics ready on {settings.bootstrap} (replication {settings.replication_factor}, "
        f"{settings.partitions} partitions): {', '.join(created)}"
    )


async def _up(
    settings: Settings, port: int | None, metrics_port: int | None, gateway_port: int = 0
) -> None:
    stack = EmbeddedStack(settings, port=port, metrics_port=metrics_port)
    async with stack, serving(stack.settings, port=gateway_port) as gateway_url:
        running = stack.settings
        click.echo(f"edxbus is up: broker {running.bootstrap}, state in {running.home}/")
        click.echo(f"  tracker database  {running.resolved_db_url}")
        click.echo(f"  log database      {LogSettings.from_env(running).db_url}")
        if stack.metrics_url:
            click.echo(f"  metrics           {stack.metrics_url}")
        if gateway_url:
            click.echo(f"  gateway           {gateway_url}/vxp  {gateway_url}/api/v1")
        click.echo("In other terminals:")
        click.echo(f"  export EDX_BOOTSTRAP={running.bootstrap} EDX_HOME={running.home}")
        click.echo("  edx demo    # or edx send / edx inbox / edx track ...")
        click.echo("Ctrl-C stops the bus.")
        with _on_stop_signals(stack.request_stop):
            await stack.wait()
    click.echo("edxbus stopped: broker, router, tracker and log are down; state kept.")


@click.command("up")
@_home_option
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Broker port (default: that of EDX_BOOTSTRAP when free, else any free port).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics of the router and tracker on this port.",
)
@click.option("--gateway-port", type=click.IntRange(0, 65535), default=0,
              help="Also run the HTTP gateway on this port (0: no gateway).")
def up(home: Path | None, port: int | None, metrics_port: int | None, gateway_port: int) -> None:
    """Run the embedded bus in the foreground: broker, topics, router, tracker."""
    settings = _settings(home)
    _quiet_one_shot(settings)  # the stack reports a failing service as one named error
    already = running_bus(settings)
    if already is not None:
        raise click.ClickException(
            f"an embedded bus already runs for {settings.home}/ at {already}"
        )
    asyncio.run(_up(settings, port, metrics_port, gateway_port))


COMMANDS: list[click.Command] = [router_group, tracker_group, topics_group, up]
