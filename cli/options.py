"""What every ``edx`` command shares: the one :class:`~bus.Settings` of a run, the
options that shape it, exit statuses and file input.

Why: ``--home`` names the state directory a command reads or writes (and the
``edx.toml`` under it). When each command loaded settings on its own, the ones
that forgot the option quietly acted on ``./.edx``. Here ``--home``, given to the
``edx`` group or to the command itself, is recorded on the click context, and
:func:`current_settings` builds the settings once from it and the environment; a
command's own flags (``--db-url``, ``--bootstrap``, ``--metrics-port``) are
applied over that one object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from bus import Settings, load_settings

__all__ = [
    "EXIT_ERROR",
    "EXIT_NOT_VERIFIED",
    "bootstrap_option",
    "current_settings",
    "home_option",
    "json_option",
    "option_group",
    "quiet_driver",
    "read_input",
]

_Command = TypeVar("_Command", bound=Callable[..., Any])

#: Exit status of a command that failed with a named error.
EXIT_ERROR = 1
#: Exit status when a verification (signature, hash chain, proof, replay) does not hold.
EXIT_NOT_VERIFIED = 3


@dataclass
class _Run:
    """The state directory named on the command line, and the settings built from it."""

    home: Path | None = None
    built: Settings | None = None


def _run(ctx: click.Context) -> _Run:
    # The group's context holds the object; a command's context inherits it. A
    # command invoked on its own (no group) gets one of its own.
    return ctx.ensure_object(_Run)


def _remember_home(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        run = _run(ctx)
        run.home, run.built = value, None


#: ``--home DIR``: on the ``edx`` group and on every command that reads or writes
#: state; the command's own value wins over the group's.
home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    expose_value=False,
    callback=_remember_home,
    help="State directory (EDX_HOME, default ./.edx).",
)

bootstrap_option = click.option(
    "--bootstrap",
    default=None,
    metavar="HOST:PORT",
    help="Kafka bootstrap servers (EDX_BOOTSTRAP).",
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of text."
)


def option_group(*options: Callable[[Any], Any]) -> Callable[[_Command], _Command]:
    """Several options (click decorators) as one decorator, listed in the order given."""

    def decorate(command: _Command) -> _Command:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def current_settings(**overrides: Any) -> Settings:
    """The settings of this run: defaults < ``edx.toml`` < ``EDX_*`` < ``--home`` and the
    command's own non-``None`` ``overrides``."""
    run = _run(click.get_current_context())
    if run.built is None:
        run.built = load_settings(home=run.home)
    return run.built.with_overrides(**overrides)


def quiet_driver() -> None:
    """The Kafka driver logs every reconnect attempt; a one-shot command reports a
    failure as one named error instead."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def read_input(path: Path) -> bytes:
    """The bytes of a file argument; ``-`` reads standard input."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror or error}") from None
