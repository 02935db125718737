"""edx commands for auditors' evidence bundles: ``evidence export`` and ``evidence verify``.

``export`` gathers one document's packages (exact bytes from ``edx.submit``), their
certificates and the CRLs, each leaf's inclusion proof, and the latest
time-stamped checkpoint into one zip file. ``verify`` checks such a file offline
with nothing but the trust anchors (``--trust``, default ``$EDX_TRUST``) and the
log's verifier key (``--log-key``, default ``$EDX_PKI/log/note.pub``); it exits 3
when any check fails. docs/AUDIT.md shows how to check each part by hand.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from cryptography import x509

from bus import export_evidence, verify_evidence
from cli.options import EXIT_NOT_VERIFIED, current_settings, home_option
from cli.render import echo_json
from signing import CredentialError, NoteVerifier, load_log_verifier

__all__ = ["COMMANDS"]


@click.group("evidence")
def evidence_group() -> None:
    """Evidence bundles: one document's packages, proofs and time-stamped checkpoint."""


@evidence_group.command("export")
@click.argument("document_id")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="FILE.zip"
)
@home_option
def evidence_export(document_id: str, out: Path) -> None:
    """Write the evidence bundle of DOCUMENT_ID to --out."""
    exported = asyncio.run(export_evidence(current_settings(), document_id, out))
    click.echo(
        f"{exported.path}: {exported.packages} package(s) ({exported.refused} refused), "
        f"proven in the checkpoint of {exported.tree_size} leaves"
    )


def _anchors(path: Path) -> list[x509.Certificate]:
    files = sorted(path.glob("*.pem")) if path.is_dir() else [path]
    anchors = [
        cert for file in files for cert in x509.load_pem_x509_certificates(file.read_bytes())
    ]
    if not anchors:
        raise CredentialError(f"no trust anchor in {path}")
    return anchors


@evidence_group.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Trust anchors: a PEM file or a directory of them (EDX_TRUST).",
)
@click.option(
    "--log-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The log's note verifier key (default $EDX_PKI/log/note.pub).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@home_option
def evidence_verify(bundle: Path, trust: Path | None, log_key: Path | None, as_json: bool) -> None:
    """Check BUNDLE offline against the trust anchors and the log's key."""
    settings = current_settings()
    verifier = (
        NoteVerifier.from_string(log_key.read_text(encoding="ascii"))
        if log_key is not None
        else load_log_verifier(settings.resolved_pki)
    )
    report = verify_evidence(
        bundle,
        _anchors(trust or settings.resolved_trust),
        verifier,
        limits=settings.packages.limits,
    )
    if as_json:
        echo_json(
            {
                "document_id": report.document_id,
                "tree_size": report.tree_size,
                "timestamp": report.timestamp,
                "ok": report.ok,
                "checks": [
                    {"name": c.name, "ok": c.ok, "detail": c.detail, "reason_code": c.reason_code}
                    for c in report.checks
                ],
            }
        )
    else:
        for check in report.checks:
            mark = "ok  " if check.ok else "FAIL"
            reason = f" [{check.reason_code}]" if check.reason_code and not check.ok else ""
            click.echo(f"{mark} {check.name}: {check.detail}{reason}")
        verdict = "verified" if report.ok else "NOT verified"
        click.echo(f"{report.document_id}: {verdict}")
    if not report.ok:
        raise click.exceptions.Exit(EXIT_NOT_VERIFIED)


COMMANDS = [evidence_group]
