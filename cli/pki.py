"""edx pki: the development PKI (a stand-in root CA, agency certificates, the CRL).

``DIR`` is laid out as ``$EDX_PKI`` (``$EDX_HOME/pki``) expects, the place where the
embedded default, ``edx send --agency`` and ``edx verify`` look for keys and trust:
``DIR/root/{cert,key}.pem``, ``DIR/agencies/CODE/{cert,key}.pem``, ``DIR/crl.pem``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.render import echo_json, table
from signing import DevPki, KeyType, agency_code_of, certificate_fingerprint

__all__ = ["COMMANDS"]


_DIR = click.argument("directory", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))


@click.group()
def pki() -> None:
    """Development PKI: a root CA standing in for the government CA, agency certificates."""


@pki.command("init")
@_DIR
@click.option("--name", default="edxbus development root CA", show_default=True, help="Root CN.")
@click.option("--days", default=3650, show_default=True, help="Validity of the root, in days.")
@click.option("--exist-ok", is_flag=True, help="Succeed (and keep it) when the PKI exists.")
@click.option(
    "--intermediate", is_flag=True, help="Issue agencies through a sub-CA (DIR/intermediate/)."
)
def init_command(directory: Path, name: str, days: int, exist_ok: bool, intermediate: bool) -> None:
    """Create a root CA in DIR (DIR/root/cert.pem, DIR/root/key.pem) and an empty CRL."""
    dev = DevPki.init(
        directory, name=name, valid_days=days, exist_ok=exist_ok, intermediate=intermediate
    )
    click.echo(f"root CA  {dev.root_cert_path}")
    if dev.intermediate_cert is not None:
        click.echo(f"sub-CA   {dev.intermediate_dir / 'cert.pem'}")
    click.echo(f"CRL      {dev.crl_path}")
    click.echo(f"verify with: xmlsec1 --verify --trusted-pem {dev.root_cert_path} FILE")


@pki.command("issue")
@_DIR
@click.argument("code")
@click.option("--name", default=None, help="The agency's name (certificate CN and O).")
@click.option("--days", default=730, show_default=True, help="Validity, in days.")
@click.option(
    "--key-type",
    type=click.Choice([k.value for k in KeyType]),
    default=KeyType.RSA.value,
    show_default=True,
    help="rsa (RSA-2048, signs RSA-SHA256) or ec (P-256, signs ECDSA-SHA256).",
)
@click.option("--replace", is_flag=True, help="Re-issue when the agency already has one.")
def issue_command(
    directory: Path, code: str, name: str | None, days: int, key_type: str, replace: bool
) -> None:
    """Issue CODE's signing certificate: DIR/agencies/CODE/cert.pem and key.pem."""
    dev = DevPki.open(directory)
    key_path, cert_path = dev.issue(
        code, name, valid_days=days, key_type=KeyType(key_type), replace=replace
    )
    cert = dev.certificate(code)
    click.echo(f"issued   {agency_code_of(cert)}  sha256:{certificate_fingerprint(cert)}")
    click.echo(f"cert     {cert_path}")
    click.echo(f"key      {key_path}")


@pki.command("revoke")
@_DIR
@click.argument("code")
def revoke_command(directory: Path, code: str) -> None:
    """Revoke CODE's certificate and publish the updated DIR/crl.pem."""
    dev = DevPki.open(directory)
    cert = dev.certificate(code)
    crl = dev.revoke(code)
    click.echo(f"revoked  {code}  serial {cert.serial_number:x}")
    click.echo(f"CRL      {crl}")


@pki.command("export")
@_DIR
@click.argument("code")
@click.argument("target", metavar="OUT", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="A file whose first line is the passphrase protecting the bundle.",
)
def export_command(directory: Path, code: str, target: Path, passphrase_file: Path) -> None:
    """Export CODE's key, certificate and CA chain as a PKCS#12 bundle OUT (.p12)."""
    lines = passphrase_file.read_bytes().splitlines()
    written = DevPki.open(directory).export_pkcs12(code, target, lines[0] if lines else b"")
    click.echo(f"exported {code} to {written}")


@pki.command("list")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(directory: Path, as_json: bool) -> None:
    """List the issued agency certificates and whether each is revoked."""
    dev = DevPki.open(directory)
    revoked = dev.revoked_serials()
    rows: list[dict[str, Any]] = []
    for slot in dev.agencies():
        cert = dev.certificate(slot)
        rows.append(
            {
                "agency": slot,
                "name": cert.subject.rfc4514_string(),
                "not_after": cert.not_valid_after_utc,
                "revoked": cert.serial_number in revoked,
                "fingerprint": certificate_fingerprint(cert),
            }
        )
    if as_json:
        echo_json(rows)
        return
    click.echo(
        table(
            ["agency", "valid until", "revoked", "sha256"],
            [
                [
                    r["agency"],
                    f"{r['not_after']:%Y-%m-%d}",
                    "yes" if r["revoked"] else "",
                    r["fingerprint"][:16],
                ]
                for r in rows
            ],
        )
    )


COMMANDS: list[click.Command] = [pki]
