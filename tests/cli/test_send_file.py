"""``edx send --file``: a package office software built, checked and signed like any other.

The bus is down here (a port nothing listens on): what is accepted is kept in the
sender's outbox under ``--home``, and what is refused is one line with its reason
and leaves nothing behind. tests/cli/test_exchange.py sends one over a real bus.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agency_client import Outbox
from cli.main import cli
from signing import DevPki, Signer, TrustStore, Verifier
from tests.signing._packages import document

H41 = "000.00.00.H41"
H44 = "000.00.24.H44"
HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    DevPki.init(home / "pki").issue(H41, "Ủy ban nhân dân tỉnh Nghệ An")
    return home


def _send(home: Path, package: Path, *extra: str) -> Result:
    env = {
        "EDX_HOME": "",
        "EDX_PKI": "",
        "EDX_TRUST": "",
        "EDX_CRL": "",
        "EDX_CONFIG": "",
        "EDX_BOOTSTRAP": "127.0.0.1:9",
    }
    args = ["--home", str(home), "send", "--from", H41, "--file", str(package), "--json", *extra]
    return CliRunner().invoke(cli, args, env=env)


def _kept(home: Path, document_id: str) -> bytes | None:
    path = home / "outbox" / f"{H41}.sqlite"
    if not path.exists():
        return None
    outbox = Outbox(path)
    try:
        entry = outbox.get(document_id)
        return None if entry is None else entry.data
    finally:
        outbox.close()


def _verifier(home: Path) -> Verifier:
    return Verifier(TrustStore.from_directory(home / "pki" / "root", []))


def test_an_unsigned_package_is_signed_and_kept(home: Path, tmp_path: Path) -> None:
    package = tmp_path / "unsigned.edxml"
    package.write_bytes(document(sender=H41, recipients=(H44,)))
    result = _send(home, package)
    assert result.exit_code == 0, result.output
    sent = json.loads(result.stdout)
    assert sent["published"] is False
    assert sent["recipients"] == [H44]
    kept = _kept(home, sent["document_id"])
    assert kept is not None
    assert _verifier(home).verify(kept).agency_code == H41


def test_a_package_signed_by_the_agency_goes_byte_for_byte(home: Path, tmp_path: Path) -> None:
    slot = home / "pki" / "agencies" / H41
    key, cert = slot / "key.pem", slot / "cert.pem"
    signed = Signer.from_files(key, cert).sign(document(sender=H41, recipients=(H44,)))
    package = tmp_path / "signed.edxml"
    package.write_bytes(signed)
    result = _send(home, package)
    assert result.exit_code == 0, result.output
    assert _kept(home, json.loads(result.stdout)["document_id"]) == signed


def test_a_signature_that_does_not_verify_is_refused(home: Path, tmp_path: Path) -> None:
    stranger = DevPki.init(tmp_path / "stranger-pki")
    key, cert = stranger.issue(H41, "Not the real one")
    package = tmp_path / "forged.edxml"
    package.write_bytes(Signer.from_files(key, cert).sign(document(sender=H41)))
    result = _send(home, package)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "signature does not verify" in result.stderr
    assert "Traceback" not in result.output
    assert not (home / "outbox").exists()


def test_a_package_of_another_agency_is_refused(home: Path, tmp_path: Path) -> None:
    package = tmp_path / "other.edxml"
    package.write_bytes(document(sender="000.00.00.H42"))
    result = _send(home, package)
    assert result.exit_code == 1
    assert "does not act for agency 000.00.00.H42" in result.stderr
    assert not (home / "outbox").exists()


@pytest.mark.parametrize(
    "name",
    ["billion-laughs.edxml", "deep-nesting.edxml", "bad-agency-code.edxml", "bad-base64.edxml"],
)
def test_a_hostile_file_is_one_line(home: Path, name: str) -> None:
    result = _send(home, HOSTILE / name)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (home / "outbox").exists()


def test_file_and_built_fields_do_not_mix(home: Path, tmp_path: Path) -> None:
    package = tmp_path / "unsigned.edxml"
    package.write_bytes(document(sender=H41))
    result = _send(home, package, "--subject", "two subjects")
    assert result.exit_code == 2
    assert "--file sends the package as it is" in result.output


def test_a_field_package_that_cannot_be_brought_into_the_strict_form_is_refused(
    home: Path, samples_dir: Path
) -> None:
    field = samples_dir / "gateway" / "unsigned-three-attachments.edxml"
    env = {"EDX_HOME": "", "EDX_PKI": "", "EDX_CONFIG": "", "EDX_BOOTSTRAP": "127.0.0.1:9"}
    args = ["--home", str(home), "send", "--from", "vxp.saas.03", "--file", str(field)]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert "strict form" in result.stderr
    assert "invalid-agency-code" in result.stderr
    assert not (home / "outbox").exists()


def test_a_status_package_is_sent_with_edx_report(home: Path, samples_dir: Path) -> None:
    result = _send(home, samples_dir / "vxp-sdk" / "status.edxml")
    assert result.exit_code == 2
    assert "edx report sends statuses" in result.output
    assert not (home / "outbox").exists()
