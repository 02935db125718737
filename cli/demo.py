"""``edx demo``: the four-level exchange on the embedded bus, then its tracking tables.

Uses the bus ``edx up`` runs for the same ``EDX_HOME`` when there is one; otherwise
starts an embedded bus for the demo and stops it afterwards. Either way the
tracker database stays under ``EDX_HOME`` (``./.edx``), so ``edx status``,
``edx track`` and ``edx trail`` can be run by hand afterwards.

A bus started for the demo is a new, empty broker (the embedded Tansu keeps
nothing across restarts), so state that recorded an earlier broker's topics and
offsets (the tracker and router databases, the outboxes) is moved aside to
``EDX_HOME/previous/`` first; the dev PKI is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import click

from bus import EmbeddedStack, Settings, configure_logging, running_bus
from cli.options import current_settings, home_option, quiet_driver
from demo import DemoResult, register_agencies, run_demo

__all__ = ["COMMANDS"]

#: State that belongs to one broker's life; moved aside when a new broker starts.
_BROKER_BOUND_STATE = ("tracker.db", "router.db", "outbox")


def _move_aside_previous_state(settings: Settings) -> Path | None:
    home = settings.home
    found = [
        path
        for name in _BROKER_BOUND_STATE
        for path in sorted(home.glob(f"{name}*"))
        if path.exists()
    ]
    if not found:
        return None
    previous = home / "previous"
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir(parents=True)
    for path in found:
        shutil.move(str(path), previous / path.name)
    return previous


async def _demo_on_own_bus(
    settings: Settings,
    progress: Callable[[str], None],
    timeout: float,  # noqa: ASYNC109
) -> DemoResult:
    async with EmbeddedStack(settings, prepare=register_agencies) as stack:
        progress(f"embedded bus started for the demo: broker {stack.settings.broker.bootstrap}")
        return await run_demo(stack.settings, progress=progress, timeout=timeout, registered=True)


def _progress_printer() -> Callable[[str], None]:
    """Prints each step with the seconds since the demo started."""
    started = time.monotonic()

    def progress(line: str) -> None:
        click.echo(f"  {time.monotonic() - started:5.1f}s  {line}")

    return progress


def _show(ctx: click.Context, *args: str) -> None:
    """Run another edx command (``track``, ``status``, ``trail``) on this run's settings
    (its context is a child of this one) and print its output."""
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    command = root.get_command(ctx, args[0])
    if command is None:
        click.echo(f"(edx {args[0]} is not available in this installation)")
        return
    click.echo(f"\n$ edx {' '.join(args)}")
    with (
        contextlib.suppress(click.exceptions.Exit),
        command.make_context(args[0], list(args[1:]), parent=ctx) as shown,
    ):
        command.invoke(shown)


@click.command("demo")
@click.option(
    "--timeout",
    type=click.FloatRange(5, 600),
    default=45.0,
    show_default=True,
    help="Seconds each step may take before the demo gives up.",
)
@home_option
@click.pass_context
def demo(ctx: click.Context, timeout: float) -> None:
    """Run a signed four-level exchange between 14 agencies and show its tracking.

    A province directive to its departments, districts, communes and a clinic; a
    ministry letter to two provinces; a report back up; a notice revoked. The
    recipients answer with statuses (one refuses, one is late).
    """
    progress = _progress_printer()
    settings = current_settings()
    configure_logging(settings, level="WARNING")
    # The client narrates its feature probes (e.g. a broker without idempotent
    # producers) as errors; the demo's own failures surface as named errors.
    quiet_driver()
    bootstrap = running_bus(settings)
    if bootstrap is not None:
        click.echo(f"using the embedded bus running at {bootstrap} (edx up)")
        result = asyncio.run(
            run_demo(settings.with_values(bootstrap=bootstrap), progress=progress, timeout=timeout)
        )
    else:
        previous = _move_aside_previous_state(settings)
        if previous is not None:
            click.echo(f"earlier state of a stopped bus moved to {previous}/")
        result = asyncio.run(_demo_on_own_bus(settings, progress, timeout))
    click.echo(
        f"\ndemo run {result.run}: {len(result.documents)} documents exchanged and tracked "
        f"in {result.seconds:.1f}s; state kept in {settings.home}/"
    )
    directive = result.document("directive")
    _show(ctx, "track")
    _show(ctx, "status", directive.document_id)
    _show(ctx, "trail", directive.document_id)
    click.echo(
        "\nTry by hand: edx track --under 000.00.00.H41 --level 3 · edx track --overdue · "
        f'edx status "{directive.document_id}"'
    )


COMMANDS: list[click.Command] = [demo]
