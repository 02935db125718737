"""edx sign / edx verify: the end-to-end bar, and every named refusal as one clear line."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree

from cli.main import cli
from signing import DevPki, Signer, load_certificate_file, load_private_key
from tests.fixtures.samples import SAMPLES_DIR
from tests.signing._packages import DSIG, document, raw_sign

H41 = "000.00.00.H41"


@pytest.fixture
def configured_pki(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$EDX_PKI``: a PKI made with ``edx pki``, its root and H41 issued."""
    pki = tmp_path / "pki"
    monkeypatch.setenv("EDX_PKI", str(pki))
    assert runner.invoke(cli, ["pki", "init", str(pki)]).exit_code == 0
    assert runner.invoke(cli, ["pki", "issue", str(pki), H41]).exit_code == 0
    return pki


def _xmlsec1(root: Path, package: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("xmlsec1")
    if binary is None:
        raise RuntimeError("xmlsec1 is not installed: run scripts/ensure-tools.sh")
    return subprocess.run(
        [binary, "--verify", "--trusted-pem", str(root), str(package)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sign_then_verify_with_edx_and_xmlsec1(runner: CliRunner, tmp_path: Path) -> None:
    """The bar: signed by `edx sign`, verified by `edx verify` and by xmlsec1; a
    tampered copy fails both with a clear message."""
    pki = tmp_path / "pki"
    assert runner.invoke(cli, ["pki", "init", str(pki)]).exit_code == 0
    assert (
        runner.invoke(cli, ["pki", "issue", str(pki), H41, "--name", "UBND Tỉnh Nghệ An"]).exit_code
        == 0
    )
    unsigned = tmp_path / "unsigned.edxml"
    unsigned.write_bytes(document(attachment_size=5_000))
    signed = tmp_path / "signed.edxml"
    agency = pki / "agencies" / H41
    result = runner.invoke(
        cli,
        [
            "sign",
            "--key",
            str(agency / "key.pem"),
            "--cert",
            str(agency / "cert.pem"),
            str(unsigned),
            str(signed),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"signed {signed} as {H41}" in result.stderr

    result = runner.invoke(cli, ["verify", "--trust", str(pki), str(signed)])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith("OK")
    assert f"agency={H41}" in line
    assert "UBND Tỉnh Nghệ An" in line
    assert "rsa-sha256" in line
    assert _xmlsec1(pki / "root" / "cert.pem", signed).returncode == 0

    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(signed.read_bytes().replace("triển khai".encode(), b"trien khai"))
    result = runner.invoke(
        cli, ["verify", "--trust", str(pki / "root"), str(tampered), str(signed)]
    )
    assert result.exit_code == 3
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("FAIL")
    assert "digest-mismatch" in lines[0]
    assert "content changed after it was signed" in lines[0]
    assert lines[1].startswith("OK")
    outside = _xmlsec1(pki / "root" / "cert.pem", tampered)
    assert outside.returncode != 0
    assert "FAIL" in outside.stdout + outside.stderr


@pytest.mark.usefixtures("configured_pki")
def test_sign_as_an_agency_from_the_configured_pki(runner: CliRunner, tmp_path: Path) -> None:
    unsigned = tmp_path / "in.edxml"
    unsigned.write_bytes(document())
    out = tmp_path / "out.edxml"
    assert runner.invoke(cli, ["sign", "--agency", H41, str(unsigned), str(out)]).exit_code == 0
    # the trust defaults to $EDX_PKI/root with its crl.pem
    result = runner.invoke(cli, ["verify", "--json", str(out)])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["verified"] is True
    assert report["agency"] == H41
    assert report["algorithm"] == "rsa-sha256"
    assert len(report["fingerprint"]) == 64


def test_sign_refuses_another_agencys_package(
    runner: CliRunner, dev_pki: DevPki, tmp_path: Path
) -> None:
    unsigned = tmp_path / "in.edxml"
    unsigned.write_bytes(document(sender=H41))
    paths = dev_pki.paths("000.00.00.G22")
    args = ["sign", "--key", str(paths.key_path), "--cert", str(paths.cert_path)]
    result = runner.invoke(cli, [*args, str(unsigned), str(tmp_path / "out.edxml")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: the package says it is from '000.00.00.H41' but is signed by the certificate "
        "of '000.00.00.G22' [sender-mismatch]"
    ]
    assert not (tmp_path / "out.edxml").exists()


def test_sign_without_credentials_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    unsigned = tmp_path / "in.edxml"
    unsigned.write_bytes(document())
    result = runner.invoke(cli, ["sign", str(unsigned), str(tmp_path / "out.edxml")])
    assert result.exit_code == 2
    assert "--key and --cert" in result.output


# --- every named refusal, from the command line ----------------------------------------


def _forged(pki: DevPki, slot: str, data: bytes, **options: str) -> bytes:
    paths = pki.paths(slot)
    return raw_sign(
        data,
        load_private_key(paths.key_path),
        load_certificate_file(paths.cert_path),
        **options,
    )


def _without_key_info(signed: bytes) -> bytes:
    root = etree.fromstring(signed)
    key_info = root.find(f".//{{{DSIG}}}KeyInfo")
    assert key_info is not None
    key_info.getparent().remove(key_info)  # type: ignore[union-attr]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _cases(pki: DevPki, other: DevPki, sign: Callable[[str], Signer]) -> dict[str, bytes]:
    now = datetime.now(UTC)
    genuine = sign(H41).sign(document())
    pki.issue(
        H41,
        slot="cli-expired",
        not_before=now - timedelta(hours=9),
        not_after=now - timedelta(hours=1),
        replace=True,
    )
    pki.issue(H41, slot="cli-revoked", replace=True)
    revoked = pki.signer("cli-revoked").sign(document())
    pki.revoke("cli-revoked")
    pki.issue(H41, slot="cli-no-sign", signing_usage=False, replace=True)
    pki.issue(H41, slot="cli-no-uid", bind_agency=False, replace=True)
    signature_value = genuine.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    flipped_value = bytearray(genuine)
    # Another base64 letter, never a byte outside the alphabet (that would read as a
    # malformed signature, not a mismatching one, whatever the key happened to give).
    letter = genuine[signature_value + 5]
    flipped_value[signature_value + 5] = ord("B") if letter == ord("A") else ord("A")
    return {
        "no-signature": document(),
        "signature-without-namespace": (SAMPLES_DIR / "vxp-sdk" / "edoc_update.edxml").read_bytes(),
        "malformed-signature": _without_key_info(genuine),
        "digest-mismatch": genuine.replace(b"UBND-VP", b"UBND-VX", 1),
        "signature-mismatch": bytes(flipped_value),
        "untrusted-certificate": other.signer(H41).sign(document()),
        "certificate-expired": Signer.from_files(
            *pki.issue(
                H41,
                slot="cli-expired-2",
                not_before=now - timedelta(hours=9),
                not_after=now - timedelta(hours=1),
                replace=True,
            )
        ).sign(document()),
        "certificate-revoked": revoked,
        "key-usage": _forged(pki, "cli-no-sign", document()),
        "unbound-certificate": _forged(pki, "cli-no-uid", document()),
        "sender-mismatch": sign("000.00.00.G22").sign(document(sender=H41)),
        "weak-algorithm": _forged(
            pki, H41, document(), signature_algorithm="rsa-sha1", digest_algorithm="sha1"
        ),
        "signature-wrapping": genuine.replace(
            b"<edXML:edXMLBody>",
            b"<edXML:edXMLBody>"
            + genuine[genuine.index(b"<ds:Signature") : genuine.index(b"</ds:Signature>") + 15],
            1,
        ),
        "unsigned-content": genuine.replace(b"?>", b"?><?xml-stylesheet href='x'?>", 1),
        "malformed-xml": genuine[: len(genuine) // 2],
    }


def test_every_named_error_is_one_clear_line(
    runner: CliRunner,
    dev_pki: DevPki,
    other_pki: DevPki,
    signer_for: Callable[[str], Signer],
    tmp_path: Path,
) -> None:
    cases = _cases(dev_pki, other_pki, signer_for)
    files = []
    for reason, data in cases.items():
        path = tmp_path / f"{reason}.edxml"
        path.write_bytes(data)
        files.append(path)
    result = runner.invoke(cli, ["verify", "--trust", str(dev_pki.directory), *map(str, files)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(cases)
    for (reason, _), line in zip(cases.items(), lines, strict=True):
        assert line.startswith(f"FAIL  {tmp_path / reason}.edxml  {reason}: "), line

    result = runner.invoke(
        cli, ["verify", "--json", "--trust", str(dev_pki.directory), *map(str, files)]
    )
    assert result.exit_code == 3
    reasons = [r["reason"] for r in json.loads(result.stdout)]
    assert reasons == list(cases)


def test_policy_flags(runner: CliRunner, dev_pki: DevPki, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    sha1 = tmp_path / "sha1.edxml"
    sha1.write_bytes(
        _forged(dev_pki, H41, document(), signature_algorithm="rsa-sha1", digest_algorithm="sha1")
    )
    trust = ["--trust", str(dev_pki.directory)]
    assert runner.invoke(cli, ["verify", *trust, str(sha1)]).exit_code == 3
    allowed = runner.invoke(cli, ["verify", *trust, "--allow-sha1", str(sha1)])
    assert allowed.exit_code == 0, allowed.output
    assert "algorithm=rsa-sha1" in allowed.stdout

    expired = tmp_path / "expired.edxml"
    key, cert = dev_pki.issue(
        H41,
        slot="cli-flags-expired",
        not_before=now - timedelta(hours=9),
        not_after=now - timedelta(hours=1),
        replace=True,
    )
    expired.write_bytes(Signer.from_files(key, cert).sign(document()))
    assert runner.invoke(cli, ["verify", *trust, str(expired)]).exit_code == 3
    as_of = (now - timedelta(hours=5)).isoformat()
    then = runner.invoke(cli, ["verify", *trust, "--at", as_of, str(expired)])
    assert then.exit_code == 0, then.output
    bad_time = runner.invoke(cli, ["verify", *trust, "--at", "yesterday", str(expired)])
    assert bad_time.exit_code == 2


def test_unusable_trust_store_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    package = tmp_path / "p.edxml"
    package.write_bytes(document())
    result = runner.invoke(cli, ["verify", "--trust", str(empty), str(package)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no certificate found in the trust store {empty} [credential-error]"
    ]


def test_sign_with_a_pkcs12_bundle_and_a_passphrase_file(
    runner: CliRunner, dev_pki: DevPki, tmp_path: Path
) -> None:
    signer = dev_pki.signer(H41)
    bundle = tmp_path / "agency.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"agency",
            signer.key,
            signer.certificate,
            None,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("s3cret\n")
    unsigned = tmp_path / "in.edxml"
    unsigned.write_bytes(document())
    out = tmp_path / "out.edxml"
    args = ["sign", "--p12", str(bundle), "--passphrase-file", str(passphrase)]
    result = runner.invoke(cli, [*args, str(unsigned), str(out)])
    assert result.exit_code == 0, result.output
    verified = runner.invoke(cli, ["verify", "--trust", str(dev_pki.directory), str(out)])
    assert verified.exit_code == 0, verified.output
    passphrase.write_text("wrong\n")
    refused = runner.invoke(cli, [*args, str(unsigned), str(out)])
    assert refused.exit_code == 1
    assert refused.stderr.strip().endswith("[credential-error]")


def test_a_pki_with_a_sub_ca_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert runner.invoke(cli, ["pki", "init", str(pki), "--intermediate"]).exit_code == 0
    assert runner.invoke(cli, ["pki", "issue", str(pki), H41]).exit_code == 0
    unsigned = tmp_path / "in.edxml"
    unsigned.write_bytes(document())
    signed = tmp_path / "signed.edxml"
    agency = pki / "agencies" / H41
    args = ["sign", "--key", str(agency / "key.pem"), "--cert", str(agency / "cert.pem")]
    assert runner.invoke(cli, [*args, str(unsigned), str(signed)]).exit_code == 0
    assert runner.invoke(cli, ["verify", "--trust", str(pki), str(signed)]).exit_code == 0
    assert _xmlsec1(pki / "root" / "cert.pem", signed).returncode == 0
    assert runner.invoke(cli, ["pki", "revoke", str(pki), H41]).exit_code == 0
    revoked = runner.invoke(cli, ["verify", "--trust", str(pki), str(signed)])
    assert revoked.exit_code == 3
    assert "certificate-revoked" in revoked.stdout


def test_strict_revocation_needs_a_crl(runner: CliRunner, dev_pki: DevPki, tmp_path: Path) -> None:
    package = tmp_path / "p.edxml"
    package.write_bytes(dev_pki.signer(H41).sign(document()))
    root_only = ["verify", "--trust", str(dev_pki.root_cert_path)]
    assert runner.invoke(cli, [*root_only, str(package)]).exit_code == 0
    strict = runner.invoke(cli, [*root_only, "--strict-revocation", str(package)])
    assert strict.exit_code == 3
    assert "revocation-unknown: no CRL" in strict.stdout
    with_crl = [*root_only, "--crl", str(dev_pki.crl_path), "--strict-revocation"]
    assert runner.invoke(cli, [*with_crl, str(package)]).exit_code == 0


@pytest.mark.slow
@pytest.mark.usefixtures("configured_pki")
def test_large_attachments_setting_reaches_edx_sign_and_verify(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsigned = tmp_path / "scan.edxml"
    unsigned.write_bytes(document(attachment_size=9_000_000))
    out = tmp_path / "signed.edxml"
    refused = runner.invoke(cli, ["sign", "--agency", H41, str(unsigned), str(out)])
    assert refused.exit_code == 1
    assert "[attachment-too-large]" in refused.output  # one named line, no traceback
    assert "Traceback" not in refused.output

    monkeypatch.setenv("EDX_LARGE_ATTACHMENTS", "true")
    assert runner.invoke(cli, ["sign", "--agency", H41, str(unsigned), str(out)]).exit_code == 0
    result = runner.invoke(cli, ["verify", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["verified"] is True
