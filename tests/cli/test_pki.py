"""edx pki init / issue / revoke / list, through the real click group (cli.main)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from signing import DevPki, agency_code_of
from tests.signing._packages import document


def test_init_issue_revoke_lay_files_out_as_designed(runner: CliRunner, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    result = runner.invoke(cli, ["pki", "init", str(pki)])
    assert result.exit_code == 0, result.output
    assert (pki / "root" / "cert.pem").is_file()
    assert (pki / "root" / "key.pem").is_file()
    assert (pki / "crl.pem").is_file()
    assert stat.S_IMODE((pki / "root" / "key.pem").stat().st_mode) == 0o600

    result = runner.invoke(
        cli, ["pki", "issue", str(pki), "000.00.00.H41", "--name", "UBND Tỉnh Nghệ An"]
    )
    assert result.exit_code == 0, result.output
    cert_path = pki / "agencies" / "000.00.00.H41" / "cert.pem"
    key_path = pki / "agencies" / "000.00.00.H41" / "key.pem"
    assert cert_path.is_file()
    assert key_path.is_file()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = DevPki.open(pki).certificate("000.00.00.H41")
    assert agency_code_of(cert) == "000.00.00.H41"
    assert "UBND Tỉnh Nghệ An" in cert.subject.rfc4514_string()

    before = (pki / "crl.pem").read_bytes()
    result = runner.invoke(cli, ["pki", "revoke", str(pki), "000.00.00.H41"])
    assert result.exit_code == 0, result.output
    assert (pki / "crl.pem").read_bytes() != before
    assert cert.serial_number in DevPki.open(pki).revoked_serials()

    result = runner.invoke(cli, ["pki", "list", str(pki), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(row["agency"], row["revoked"]) for row in listed] == [("000.00.00.H41", True)]


def test_ec_agency(runner: CliRunner, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert runner.invoke(cli, ["pki", "init", str(pki)]).exit_code == 0
    result = runner.invoke(cli, ["pki", "issue", str(pki), "000.00.00.G22", "--key-type", "ec"])
    assert result.exit_code == 0, result.output
    assert b"BEGIN PRIVATE KEY" in (pki / "agencies" / "000.00.00.G22" / "key.pem").read_bytes()
    signer = DevPki.open(pki).signer("000.00.00.G22")
    assert signer.signature_algorithm.short_name == "ecdsa-sha256"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["pki", "issue", "{pki}", "000.00.00.H41"], "pki-error"),  # no PKI there yet
        (["pki", "revoke", "{pki}", "000.00.00.H41"], "pki-error"),
    ],
)
def test_errors_are_one_clear_line(
    runner: CliRunner, tmp_path: Path, args: list[str], reason: str
) -> None:
    pki = tmp_path / "nothing-here"
    result = runner.invoke(cli, [a.replace("{pki}", str(pki)) for a in args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert lines[0].endswith(f"[{reason}]")
    assert "Traceback" not in result.output


def test_init_twice_and_issue_twice_are_refused_unless_asked(
    runner: CliRunner, tmp_path: Path
) -> None:
    pki = tmp_path / "pki"
    assert runner.invoke(cli, ["pki", "init", str(pki)]).exit_code == 0
    again = runner.invoke(cli, ["pki", "init", str(pki)])
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert runner.invoke(cli, ["pki", "init", str(pki), "--exist-ok"]).exit_code == 0
    assert runner.invoke(cli, ["pki", "issue", str(pki), "000.00.00.H41"]).exit_code == 0
    twice = runner.invoke(cli, ["pki", "issue", str(pki), "000.00.00.H41"])
    assert twice.exit_code == 1
    assert "[pki-error]" in twice.stderr
    replaced = runner.invoke(cli, ["pki", "issue", str(pki), "000.00.00.H41", "--replace"])
    assert replaced.exit_code == 0, replaced.output


def test_revoke_of_an_unknown_agency(runner: CliRunner, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert runner.invoke(cli, ["pki", "init", str(pki)]).exit_code == 0
    result = runner.invoke(cli, ["pki", "revoke", str(pki), "000.00.00.H99"])
    assert result.exit_code == 1
    assert "no certificate issued to 000.00.00.H99" in result.stderr


def test_export_a_pkcs12_bundle_and_sign_with_it(runner: CliRunner, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert runner.invoke(cli, ["pki", "init", str(pki), "--intermediate"]).exit_code == 0
    assert runner.invoke(cli, ["pki", "issue", str(pki), "000.00.00.H41"]).exit_code == 0
    passphrase = tmp_path / "pass"
    passphrase.write_text("mật khẩu\n", encoding="utf-8")
    bundle = tmp_path / "h41.p12"
    exported = runner.invoke(
        cli,
        [
            "pki",
            "export",
            str(pki),
            "000.00.00.H41",
            str(bundle),
            "--passphrase-file",
            str(passphrase),
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    unsigned = tmp_path / "in.edxml"
    unsigned.write_bytes(document())
    signed = tmp_path / "out.edxml"
    args = ["sign", "--p12", str(bundle), "--passphrase-file", str(passphrase)]
    assert runner.invoke(cli, [*args, str(unsigned), str(signed)]).exit_code == 0
    # the bundle carries the sub-CA, so the signature does too
    assert signed.read_bytes().count(b"<ds:X509Certificate>") == 2
    assert runner.invoke(cli, ["verify", "--trust", str(pki), str(signed)]).exit_code == 0
    empty = tmp_path / "empty"
    empty.write_text("")
    refused = runner.invoke(
        cli,
        ["pki", "export", str(pki), "000.00.00.H41", str(bundle), "--passphrase-file", str(empty)],
    )
    assert refused.exit_code == 1
    assert "[pki-error]" in refused.stderr
