"""edx commands for the agency directory: ``agency add``, ``agency list``, ``agency suspend``.

The directory lives on the compacted ``edx.agencies`` topic; these commands are
the operator's way to write it. Each is a thin call into :mod:`bus.directory`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from bus import (
    Agency,
    AgencyDirectory,
    Settings,
    certificate_fingerprints,
    publish_agency,
    reinstate_agency,
    suspend_agency,
)
from cli.options import (
    bootstrap_option,
    current_settings,
    home_option,
    option_group,
    quiet_driver,
)
from cli.render import echo_json, table

__all__ = ["COMMANDS"]


def _settings(bootstrap: str | None) -> Settings:
    quiet_driver()
    return current_settings(bootstrap=bootstrap)


_common = option_group(home_option, bootstrap_option)


def _row(agency: Agency) -> list[object]:
    return [
        agency.code,
        agency.level,
        agency.parent or "",
        agency.state.value.lower(),
        len(agency.cert_fingerprints),
        agency.name,
    ]


def _as_json(agency: Agency) -> dict[str, object]:
    return {
        "code": agency.code,
        "name": agency.name,
        "parent": agency.parent,
        "level": agency.level,
        "state": agency.state,
        "cert_fingerprints": list(agency.cert_fingerprints),
        "updated_at": agency.updated_at,
    }


@click.group("agency")
def agency() -> None:
    """The agency directory: who may send and receive (edx.agencies)."""


@agency.command("add")
@click.argument("code")
@click.argument("name")
@click.option(
    "--cert",
    "certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A certificate the agency signs with (repeatable); its fingerprint is listed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@_common
def add(
    code: str,
    name: str,
    certs: tuple[Path, ...],
    as_json: bool,
    bootstrap: str | None,
) -> None:
    """Register (or update) agency CODE named NAME, and create its inbox."""
    settings = _settings(bootstrap)
    fingerprints = [fp for path in certs for fp in certificate_fingerprints(path)]
    record = Agency.new(
        code, name, cert_fingerprints=fingerprints, pattern=settings.packages.agency_pattern
    )
    published = asyncio.run(publish_agency(settings, record))
    if as_json:
        echo_json(_as_json(published))
        return
    click.echo(
        f"registered {published.code} (level {published.level}"
        + (f", under {published.parent}" if published.parent else "")
        + f"): {published.name}; {len(published.cert_fingerprints)} certificate(s)"
    )


@agency.command("list")
@click.option("--level", type=click.IntRange(1, 4), default=None, help="Only this level.")
@click.option("--under", default=None, metavar="CODE", help="Only agencies below CODE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_common
def list_agencies(
    level: int | None,
    under: str | None,
    as_json: bool,
    bootstrap: str | None,
) -> None:
    """List the agencies of the directory."""
    settings = _settings(bootstrap)
    directory = asyncio.run(AgencyDirectory.load(settings))
    agencies = directory.under(under) if under else directory.all()
    if level is not None:
        agencies = [a for a in agencies if a.level == level]
    if as_json:
        echo_json([_as_json(a) for a in agencies])
        return
    if not agencies:
        click.echo("no agencies")
        return
    click.echo(
        table(["code", "level", "parent", "state", "certs", "name"], [_row(a) for a in agencies])
    )


def _change_state(
    code: str,
    bootstrap: str | None,
    change: Callable[[Settings, str], Coroutine[Any, Any, Agency]],
    done: str,
) -> None:
    changed = asyncio.run(change(_settings(bootstrap), code))
    click.echo(f"{done} {changed.code}: {changed.name}")


@agency.command("suspend")
@click.argument("code")
@_common
def suspend(code: str, bootstrap: str | None) -> None:
    """Suspend agency CODE: the router refuses its packages and packages to it."""
    _change_state(code, bootstrap, suspend_agency, "suspended")


@agency.command("reinstate")
@click.argument("code")
@_common
def reinstate(code: str, bootstrap: str | None) -> None:
    """Make a suspended agency CODE active again."""
    _change_state(code, bootstrap, reinstate_agency, "reinstated")


COMMANDS: list[click.Command] = [agency]
