"""Evidence bundles end to end: the real router decides, the log proves, the auditor checks.

A document, its status 01 and a refused replay (other bytes under the same
DocumentId) go through the router; the log appends their three leaves and makes
a time-stamped checkpoint; the bundle verifies with ``edx evidence verify`` and,
piece by piece, with tools we did not write: xmlsec1 for the package signatures,
``openssl ts -verify`` for the token, ``openssl verify -crl_check`` for the chain.
Then every kind of tampering is caught with a named reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from bus import (
    export_evidence,
    verify_evidence,
)
from bus.tlog import EvidenceFormatError
from signing import DevPki, NoteSigner, load_log_verifier
from tests.fixtures.demo import clean_env, run_edx
from tests.tlog._routed import ORIGIN, RoutedLog
from tests.tlog._tools import openssl_chain_verifies, openssl_ts_verifies, xmlsec1_verifies

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _anchors(pki: DevPki) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(pki.root_cert_path.read_bytes())]


def _rewrite(source: Path, target: Path, name: str, change: Callable[[bytes], bytes]) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            copy.writestr(info.filename, change(data) if info.filename == name else data)
    return target


def accepted_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in manifest["leaves"] if e["decision"] == "accepted")


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


async def test_an_exported_bundle_verifies_offline_and_every_tampering_is_named(
    routed: RoutedLog, dev_pki: DevPki, tmp_path: Path
) -> None:
    settings = routed.settings
    package, data, log_settings = routed.package, routed.data, routed.log_settings
    bundle = tmp_path / "evidence.zip"
    exported = await export_evidence(settings, package.document_id, bundle, log_settings)
    assert (exported.packages, exported.refused) == (3, 1)

    report = verify_evidence(bundle, _anchors(dev_pki), load_log_verifier(dev_pki.directory))
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.timestamp is not None
    names = [c.name for c in report.checks]
    assert {"manifest", "checkpoint", "timestamp"} <= set(names)
    assert sum(n.startswith("package ") for n in names) == 3

    # The same with the installed edx, offline: only the root and the log key.
    env = clean_env(EDX_HOME=str(tmp_path / "elsewhere"))
    done = await asyncio.to_thread(
        run_edx,
        "evidence",
        "verify",
        str(bundle),
        "--trust",
        str(dev_pki.root_cert_path),
        "--log-key",
        str(dev_pki.directory / "log" / "note.pub"),
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{package.document_id}: verified" in done.stdout

    # Each piece by hand, with tools we did not write.
    parts = tmp_path / "parts"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(parts)
    manifest = json.loads((parts / "manifest.json").read_text())
    root = dev_pki.root_cert_path
    assert openssl_ts_verifies(parts / "checkpoint", parts / "checkpoint.tsr", root)
    for entry in manifest["leaves"]:
        # The CRLs current when the router accepted it, from the log's archive.
        assert entry["crls_as_of"] == "acceptance", entry
        assert entry["crls"], entry
        if entry["decision"] == "accepted":
            crls = [parts / name for name in entry["crls"]]
            assert xmlsec1_verifies(parts / entry["package"], root), entry["package"]
            assert openssl_chain_verifies(parts / entry["certificates"][0], root, crls)
    bent_crl_check = openssl_chain_verifies(
        parts / accepted_entry(manifest)["certificates"][0], root, []
    )
    assert not bent_crl_check  # -crl_check without the CRLs fails: the CRLs matter

    # Tampering, each caught with its reason.
    refused = next(e for e in manifest["leaves"] if e["decision"] == "refused")
    accepted = next(e for e in manifest["leaves"] if e["decision"] == "accepted")
    cases = {
        accepted["package"]: "evidence-altered",
        refused["package"]: "evidence-altered",
        "checkpoint": "evidence-altered",
        "checkpoint.tsr": "evidence-altered",
        accepted["proof"]: "evidence-altered",
    }
    for name, reason in cases.items():
        bent = _rewrite(bundle, tmp_path / "bent.zip", name, _flip)
        bad = verify_evidence(bent, _anchors(dev_pki), load_log_verifier(dev_pki.directory))
        assert not bad.ok, name
        assert reason in {c.reason_code for c in bad.checks if not c.ok}, name
    # A package replaced and the manifest's hash updated to match: the leaf still says no.
    with zipfile.ZipFile(bundle) as archive:
        body = json.loads(archive.read("manifest.json"))
    forged_package = _flip(data)
    body["files"][accepted["package"]] = hashlib.sha256(forged_package).hexdigest()
    step = _rewrite(bundle, tmp_path / "step.zip", accepted["package"], lambda _: forged_package)
    forged = _rewrite(
        step, tmp_path / "forged.zip", "manifest.json", lambda _: json.dumps(body).encode()
    )
    bad = verify_evidence(forged, _anchors(dev_pki), load_log_verifier(dev_pki.directory))
    assert not bad.ok
    assert "evidence-altered" in {c.reason_code for c in bad.checks if not c.ok}
    # Another log's key: refused.
    stranger = NoteSigner.generate(ORIGIN).verifier()
    assert not verify_evidence(bundle, _anchors(dev_pki), stranger).ok
    cli_bad = await asyncio.to_thread(
        run_edx,
        "evidence",
        "verify",
        str(forged),
        "--trust",
        str(root),
        "--log-key",
        str(dev_pki.directory / "log" / "note.pub"),
        cwd=tmp_path,
        env=env,
    )
    assert cli_bad.returncode == 3
    assert "[evidence-altered]" in cli_bad.stdout


def test_a_file_that_is_no_bundle_is_one_named_error(dev_pki: DevPki, tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    key = NoteSigner.generate(ORIGIN).verifier()
    with pytest.raises(EvidenceFormatError):
        verify_evidence(junk, _anchors(dev_pki), key)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("manifest.json", '{"format": "something else"}')
    with pytest.raises(EvidenceFormatError, match="not an edxbus evidence bundle"):
        verify_evidence(other, _anchors(dev_pki), key)
