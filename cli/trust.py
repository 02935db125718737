"""edx sign / edx verify: put an agency's signature on a package; prove who signed it.

``verify`` prints one line per file and exits 0 when every file verifies, 3
(``cli.options.EXIT_NOT_VERIFIED``) when any does not: the failing line names the
reason code and says why in words a clerk can act on.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cli.options import EXIT_NOT_VERIFIED, current_settings, home_option, read_input
from cli.render import echo_json
from edxml.errors import EdxbusError
from signing import (
    Signer,
    TrustStore,
    VerificationPolicy,
    VerifiedPackage,
    Verifier,
)

__all__ = ["COMMANDS"]


@click.command()
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False), help="PEM key.")
@click.option(
    "--cert", "cert_path", type=click.Path(path_type=Path, dir_okay=False), help="PEM certificate."
)
@click.option(
    "--agency",
    default=None,
    help="Sign as this agency: $EDX_PKI/agencies/CODE/{key,cert}.pem (else --key/--cert).",
)
@click.option(
    "--p12",
    "p12_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A PKCS#12 bundle (.p12/.pfx) holding the key and certificate (instead of --key/--cert).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A file whose first line is the passphrase of an encrypted key or PKCS#12 bundle.",
)
@click.option(
    "--no-check-sender",
    is_flag=True,
    help="Sign even when From/OrganId is not the certificate's agency (verifiers will refuse it).",
)
@home_option
@click.argument(
    "source", metavar="IN", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True)
)
@click.argument(
    "target", metavar="OUT", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True)
)
def sign(
    key_path: Path | None,
    cert_path: Path | None,
    agency: str | None,
    p12_path: Path | None,
    passphrase_file: Path | None,
    no_check_sender: bool,
    source: Path,
    target: Path,
) -> None:
    """Sign the EDXML package IN and write it to OUT (only the signature is added)."""
    password = _passphrase(passphrase_file)
    if p12_path is not None:
        signer = Signer.from_pkcs12(p12_path, password=password)
    else:
        if agency is not None and (key_path is None or cert_path is None):
            default_key, default_cert = current_settings().agency_key_paths(agency)
            key_path, cert_path = key_path or default_key, cert_path or default_cert
        if key_path is None or cert_path is None:
            raise click.UsageError("give --key and --cert, --p12, or --agency CODE")
        signer = Signer.from_files(key_path, cert_path, password=password)
    signed = signer.sign(
        read_input(source),
        check_sender=not no_check_sender,
        limits=current_settings().packages.limits,
    )
    if str(target) == "-":
        sys.stdout.buffer.write(signed)
        sys.stdout.buffer.flush()
        return
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(signed)
    temporary.replace(target)
    click.echo(
        f"signed {target} as {signer.agency_code} "
        f"({signer.signature_algorithm.short_name}, sha256:{signer.fingerprint[:16]})",
        err=True,
    )


def _passphrase(path: Path | None) -> bytes | None:
    """The first line of a passphrase file (never a command-line argument: those leak
    into shell histories and process lists)."""
    if path is None:
        return None
    lines = path.read_bytes().splitlines()
    return lines[0] if lines else b""


def _trust(trust: Path | None, crls: tuple[Path, ...]) -> TrustStore:
    """The trust store: --trust (a directory of roots, a PEM file, or a dev PKI directory)."""
    settings = current_settings()
    directory = trust if trust is not None else settings.resolved_trust
    crl_paths = list(crls)
    # A dev PKI directory (as `edx pki init` writes it): trust its root and use its CRL.
    if (directory / "root" / "cert.pem").is_file():
        if not crl_paths:
            candidates = (directory / "crl.pem", directory / "root" / "crl.pem")
            crl_paths.extend(p for p in candidates if p.is_file())
        directory = directory / "root"
    elif not crl_paths and trust is None and settings.resolved_crl is not None:
        crl_paths.append(settings.resolved_crl)
    return TrustStore.from_directory(directory, crl_paths)


def _describe(result: VerifiedPackage) -> dict[str, Any]:
    return {
        "verified": True,
        "signer": result.signer_name,
        "agency": result.agency_code,
        "sender": result.sender_code,
        "algorithm": result.signature_algorithm.short_name,
        "digest": result.digest_algorithm.short_name,
        "c14n": result.c14n.short_name,
        "fingerprint": result.fingerprint,
        "valid_until": result.certificate.not_valid_after_utc,
    }


@click.command()
@click.option(
    "--trust",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Trust anchors: a directory of PEM roots/intermediates, a PEM file, or a dev PKI "
    "directory (its root and crl.pem). Default: $EDX_TRUST.",
)
@click.option(
    "--crl",
    "crls",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A CRL to check revocation against (repeatable).",
)
@click.option("--allow-sha1", is_flag=True, help="Accept RSA-SHA1 field signatures (weak).")
@click.option("--no-revocation", is_flag=True, help="Do not consult CRLs.")
@click.option(
    "--strict-revocation",
    is_flag=True,
    help="Refuse when an issuer has no CRL, or only one past its nextUpdate.",
)
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="ISO-TIME",
    help="Verify as of this time (ISO 8601, UTC if no zone): for auditing old packages.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file, in a list.")
@home_option
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
)
def verify(
    trust: Path | None,
    crls: tuple[Path, ...],
    allow_sha1: bool,
    no_revocation: bool,
    strict_revocation: bool,
    at_text: str | None,
    as_json: bool,
    files: tuple[Path, ...],
) -> None:
    """Verify the signature of each FILE: signer, agency code, algorithm; exit 3 if any fails."""
    at = _parse_time(at_text)
    policy = VerificationPolicy(
        allow_sha1=allow_sha1,
        check_revocation=not no_revocation,
        require_crl=strict_revocation,
        require_fresh_crl=strict_revocation,
    )
    verifier = Verifier(_trust(trust, crls), policy, limits=current_settings().packages.limits)
    reports: list[dict[str, Any]] = []
    for path in files:
        try:
            report = {"file": str(path), **_describe(verifier.verify(read_input(path), at=at))}
        except EdxbusError as error:
            report = {
                "file": str(path),
                "verified": False,
                "reason": error.reason_code,
                "message": str(error),
            }
        reports.append(report)
        if not as_json:
            click.echo(_line(report))
    if as_json:
        echo_json(reports)
    if not all(r["verified"] for r in reports):
        raise click.exceptions.Exit(EXIT_NOT_VERIFIED)


def _line(report: dict[str, Any]) -> str:
    if report["verified"]:
        return (
            f"OK    {report['file']}  agency={report['agency']}  signer={report['signer']!r}  "
            f"algorithm={report['algorithm']}  digest={report['digest']}  "
            f"sha256={report['fingerprint'][:16]}"
        )
    return f"FAIL  {report['file']}  {report['reason']}: {report['message']}"


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--at") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


COMMANDS: list[click.Command] = [sign, verify]
