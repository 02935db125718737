"""edx commands that run the bus: ``router run``, ``tracker run``, ``topics init``, ``up``.

Each runs in the foreground until Ctrl-C (SIGINT) or SIGTERM, which ask the
service to finish its batch, commit, and stop: the same path a container stop
takes in docker/compose.yaml. Logs go to stderr in ``settings.observability.log_format``;
metrics are served on ``settings.observability.metrics_port`` (``--metrics-port``) when set.
"""

from __future__ import annotations

import asyncio

import click

from bus import (
    EmbeddedStack,
    LogSettings,
    Settings,
    configure_logging,
    ensure_topics,
    running_bus,
    start_metrics_server,
)
from cli.foreground import ServiceRunner, on_stop_signals, run_until_stopped
from cli.options import current_settings, home_option, quiet_driver
from gateway import serving

__all__ = ["COMMANDS"]

#: Where `edx up` serves the HTTP gateway unless told otherwise (as `edx gateway run`).
DEFAULT_GATEWAY_PORT = 8080


def _settings(metrics_port: int | None = None) -> Settings:
    return current_settings(metrics_port=metrics_port)


def _serve(settings: Settings, run: ServiceRunner) -> None:
    configure_logging(settings)
    server = start_metrics_server(settings)
    if server is not None:
        click.echo(f"metrics: {server.url}", err=True)
    try:
        # The endpoint is served here once; the service must not open the port again.
        asyncio.run(run_until_stopped(settings.with_values(metrics_port=0), run))
    finally:
        if server is not None:
            server.stop()


def _quiet_one_shot(settings: Settings) -> None:
    """A one-shot command reports its failure as one named error, not the client's log."""
    configure_logging(settings, level="WARNING")
    quiet_driver()


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
@home_option
@_metrics_option
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Processes that verify and parse packages (EDX_ROUTER_WORKERS; default: the cores).",
)
def router_run(metrics_port: int | None, workers: int | None) -> None:
    """Run one router in the foreground (scale by running more)."""
    from bus import run_router

    settings = _settings(metrics_port)
    if workers is not None:
        settings = settings.with_values(router_workers=workers)
    _serve(settings, run_router)


@click.group("tracker")
def tracker_group() -> None:
    """The tracker: edx.events -> the SQL database the clerk commands read."""


@tracker_group.command("run")
@home_option
@_metrics_option
def tracker_run(metrics_port: int | None) -> None:
    """Run the tracker in the foreground."""
    from bus import run_tracker

    _serve(_settings(metrics_port), run_tracker)


@click.group("topics")
def topics_group() -> None:
    """Topic administration (DESIGN.md §3)."""


@topics_group.command("init")
@home_option
@click.option("--agency", "agencies", multiple=True, metavar="CODE", help="Also create this inbox.")
def topics_init(agencies: tuple[str, ...]) -> None:
    """Create the bus topics (and inboxes) unless they exist; safe to repeat."""
    settings = _settings()
    _quiet_one_shot(settings)
    asyncio.run(ensure_topics(settings, agencies))
    names = settings.topics
    created = [names.submit, names.events, names.deadletter, names.agencies]
    created += [names.inbox(code) for code in agencies]
    layout = settings.topic_layout
    click.echo(
        f"topics ready on {settings.broker.bootstrap} (replication {layout.replication_factor}, "
        f"{layout.partitions} partitions): {', '.join(created)}"
    )


async def _up(
    settings: Settings, port: int | None, metrics_port: int | None, gateway_port: int = 0
) -> None:
    stack = EmbeddedStack(settings, port=port, metrics_port=metrics_port)
    async with stack, serving(stack.settings, port=gateway_port) as gateway_url:
        running = stack.settings
        click.echo(f"edxbus is up: broker {running.broker.bootstrap}, state in {running.home}/")
        click.echo(f"  tracker database  {running.resolved_db_url}")
        click.echo(f"  log database      {LogSettings.from_env(running).db_url}")
        if stack.metrics_url:
            click.echo(f"  metrics           {stack.metrics_url}")
        if gateway_url:
            click.echo(f"  gateway           {gateway_url}/vxp  {gateway_url}/api/v1")
        click.echo("In other terminals:")
        click.echo(f"  export EDX_BOOTSTRAP={running.broker.bootstrap} EDX_HOME={running.home}")
        click.echo("  edx demo    # or edx send / edx inbox / edx track ...")
        click.echo("Ctrl-C stops the bus.")
        with on_stop_signals(stack.request_stop):
            await stack.wait()
    click.echo("edxbus stopped: broker, router, tracker and log are down; state kept.")


@click.command("up")
@home_option
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
@click.option(
    "--gateway-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_GATEWAY_PORT,
    envvar="EDX_GATEWAY_PORT",
    show_default=True,
    help="Port of the HTTP gateway run beside the bus (0: no gateway).",
)
def up(port: int | None, metrics_port: int | None, gateway_port: int) -> None:
    """Run the embedded bus in the foreground: broker, topics, router, tracker."""
    settings = _settings()
    _quiet_one_shot(settings)  # the stack reports a failing service as one named error
    already = running_bus(settings)
    if already is not None:
        raise click.ClickException(
            f"an embedded bus already runs for {settings.home}/ at {already}"
        )
    asyncio.run(_up(settings, port, metrics_port, gateway_port))


COMMANDS: list[click.Command] = [router_group, tracker_group, topics_group, up]
