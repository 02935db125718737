"""edx commands for the HTTP gateway: ``gateway run`` and ``gateway system add|list|remove|rotate``.

Systems live in the gateway's database (``EDX_GATEWAY_DB_URL``, default
``$EDX_HOME/gateway/gateway.db``); a running gateway reads them per request, so
these commands take effect without a restart. Secrets are read from a file (never
from the command line, where they would land in the shell's history) and never
printed.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli.options import bootstrap_option, current_settings, home_option, quiet_driver
from cli.render import echo_json, table
from gateway import GatewayConfig, SystemRegistry, open_gateway_engine, serve

__all__ = ["COMMANDS"]


def _registry() -> SystemRegistry:
    config = GatewayConfig.from_settings(current_settings())
    return SystemRegistry(open_gateway_engine(config.db_url))


def _secret(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


_secret_file = click.option(
    "--secret-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding the system's secret (its first line, trimmed).",
)


@click.group("gateway")
def gateway_group() -> None:
    """The HTTP gateway for office software (the hub protocol at /vxp)."""


@gateway_group.command("run")
@home_option
@bootstrap_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
def run_command(bootstrap: str | None, host: str, port: int) -> None:
    """Serve the gateway until interrupted."""
    quiet_driver()
    settings = current_settings(bootstrap=bootstrap)
    click.echo(f"gateway listening on http://{host}:{port}/vxp")
    serve(settings, host=host, port=port)


@gateway_group.group("system")
def system_group() -> None:
    """Register the office-software systems the gateway acts for."""


@system_group.command("add")
@click.argument("system_id")
@click.option(
    "--agency",
    "agencies",
    multiple=True,
    required=True,
    metavar="CODE",
    help="An agency the system acts for (repeat for several).",
)
@_secret_file
@click.option(
    "--may-register",
    is_flag=True,
    help="Allow registerAgency/deleteAgency for this system (off by default).",
)
@home_option
def add_command(
    system_id: str, agencies: tuple[str, ...], secret_file: Path, may_register: bool
) -> None:
    """Register SYSTEM_ID, acting for the given agencies."""
    system = _registry().add(system_id, agencies, _secret(secret_file), may_register=may_register)
    click.echo(f"system {system.system_id} acts for {', '.join(sorted(system.agencies))}")


@system_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@home_option
def list_command(as_json: bool) -> None:
    """The registered systems and their agencies (never their secrets)."""
    systems = _registry().all()
    if as_json:
        echo_json(
            [
                {
                    "system_id": s.system_id,
                    "agencies": sorted(s.agencies),
                    "may_register": s.may_register,
                }
                for s in systems
            ]
        )
        return
    click.echo(
        table(
            ["SYSTEM", "AGENCIES", "REGISTER"],
            [
                [s.system_id, ",".join(sorted(s.agencies)), "yes" if s.may_register else "no"]
                for s in systems
            ],
        )
    )


@system_group.command("remove")
@click.argument("system_id")
@home_option
def remove_command(system_id: str) -> None:
    """Forget SYSTEM_ID: its requests are refused from the next one on."""
    _registry().remove(system_id)
    click.echo(f"system {system_id} removed")


@system_group.command("rotate")
@click.argument("system_id")
@_secret_file
@home_option
def rotate_command(system_id: str, secret_file: Path) -> None:
    """Give SYSTEM_ID a new secret; the old one stops working at once."""
    _registry().rotate(system_id, _secret(secret_file))
    click.echo(f"system {system_id}: secret replaced")


COMMANDS: list[click.Command] = [gateway_group]
