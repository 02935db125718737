"""The ``edx`` command line: one click group, one error handler.

Each command family lives in its own module and exposes ``COMMANDS``, a list of
click commands (or groups) registered here. Commands are thin: they call one
function of ``agency_client`` or ``bus`` and render the answer (see ``render``).

Every command builds its settings through ``cli.options.settings``: one object
per run, from ``--home`` (given here or to the command) and the environment.

Every :class:`~edxml.errors.EdxbusError` is caught here once and printed as one
line on stderr; a clerk never sees a traceback. ``EDX_DEBUG=1`` shows it anyway.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from cli import (
    agency,
    demo,
    evidence,
    exchange,
    gateway,
    log,
    package,
    pki,
    services,
    tracking,
    trust,
)
from cli.options import EXIT_ERROR, home_option
from edxml.errors import EdxbusError

__all__ = ["cli", "main"]


class _EdxGroup(click.Group):
    """A group that turns edxbus errors into one clear line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdxbusError as error:
            if os.environ.get("EDX_DEBUG"):
                raise
            click.echo(f"error: {error} [{error.reason_code}]", err=True)
            ctx.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as error:
            if os.environ.get("EDX_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(error).__name__}: {error} "
                "(set EDX_DEBUG=1 to see the details)",
                err=True,
            )
            ctx.exit(EXIT_ERROR)


@click.group(cls=_EdxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edxbus", prog_name="edx")
@home_option
def cli() -> None:
    """edxbus: signed EDXML document exchange between agencies, over Kafka.

    edx --home DIR COMMAND (or COMMAND --home DIR) acts on the state under DIR.
    """


for _family in (
    package,
    trust,
    pki,
    agency,
    services,
    exchange,
    tracking,
    demo,
    gateway,
    log,
    evidence,
):
    for _command in _family.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="edx", standalone_mode=True))
