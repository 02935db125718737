"""Independent verification: xmlsec1 and signxml (used directly) accept what edxbus signs,
and refuse it once any byte changes, attachment content included."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from signxml.verifier import SignatureConfiguration, XMLVerifier

from edxml import EdxbusError
from signing import DevPki, KeyType, Signer, Verifier
from tests.signing._packages import document

H41 = "000.00.00.H41"
#: What an outside verifier is told: the signature may sit anywhere (edxbus's own
#: verifier is stricter about where).
ANYWHERE = SignatureConfiguration(location=".//")


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """The xmlsec1 binary; missing is an error (scripts/ensure-tools.sh installs it)."""
    path = shutil.which("xmlsec1")
    if path is None:
        raise RuntimeError("xmlsec1 is not installed: run scripts/ensure-tools.sh")
    return path


def xmlsec1_verifies(binary: str, root_pem: Path, package: Path) -> bool:
    result = subprocess.run(
        [binary, "--verify", "--trusted-pem", str(root_pem), str(package)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode == 0


def signxml_verifies(data: bytes, root_pem: Path) -> bool:
    try:
        XMLVerifier().verify(data, ca_pem_file=str(root_pem), expect_config=ANYWHERE)
    except Exception:  # any refusal, whatever its type, is a refusal
        return False
    return True


@pytest.fixture(scope="module")
def ec_signer(dev_pki: DevPki) -> Signer:
    dev_pki.issue(H41, slot="H41-ec-independent", key_type=KeyType.EC)
    return dev_pki.signer("H41-ec-independent")


@pytest.mark.parametrize("size", [2_000, 1_000_000], ids=["5KB", "1MB"])
@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_outside_verifiers_accept_our_signatures(
    kind: str,
    size: int,
    signer_for: Callable[[str], Signer],
    ec_signer: Signer,
    dev_pki: DevPki,
    xmlsec1: str,
    tmp_path: Path,
) -> None:
    signer = signer_for(H41) if kind == "rsa" else ec_signer
    assert signer._profile is not None  # signed with lxml + cryptography, not signxml
    signed = signer.sign(document(attachment_size=size))
    package = tmp_path / "signed.edxml"
    package.write_bytes(signed)
    assert xmlsec1_verifies(xmlsec1, dev_pki.root_cert_path, package)
    assert signxml_verifies(signed, dev_pki.root_cert_path)


def test_outside_verifiers_refuse_another_root(
    other_pki: DevPki, dev_pki: DevPki, xmlsec1: str, tmp_path: Path
) -> None:
    forged = other_pki.signer(H41).sign(document())
    package = tmp_path / "forged.edxml"
    package.write_bytes(forged)
    assert not xmlsec1_verifies(xmlsec1, dev_pki.root_cert_path, package)
    assert not signxml_verifies(forged, dev_pki.root_cert_path)


def _flip(data: bytes, position: int) -> bytes:
    flipped = bytearray(data)
    flipped[position] ^= 0x01
    return bytes(flipped)


@pytest.mark.slow
def test_every_single_byte_flip_fails_our_verifier(
    signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    signed = signer_for(H41).sign(document(attachment_size=600))
    survivors = []
    for position in range(len(signed)):
        try:
            verifier.verify(_flip(signed, position))
        except EdxbusError:
            continue
        survivors.append(position)
    assert survivors == []


def _positions(signed: bytes) -> list[int]:
    """Positions across every region: header fields, trace list, signature parts
    (SignedInfo, value, certificate), manifest, attachment content, closing tags."""
    markers = [
        b"<edXML:edXMLEnvelope",
        b"000.00.00.H41",
        b"<edXML:Subject>",
        b"<edXML:TraceHeaderList>",
        b"<ds:SignedInfo>",
        b"<ds:DigestValue>",
        b"<ds:SignatureValue>",
        b"<ds:X509Certificate>",
        b"<edXML:edXMLManifest",
        b"</edXML:ContentTransferEncoded>",
        b"</edXML>",
    ]
    positions = set()
    for marker in markers:
        start = signed.index(marker)
        positions.update({start + 1, start + len(marker) + 3})
    attachment_end = signed.index(b"</edXML:ContentTransferEncoded>")
    positions.update(range(attachment_end - 300, attachment_end, 37))
    end_of_declaration = signed.index(b"?>") + 2
    step = max(1, len(signed) // 40)
    positions.update(range(end_of_declaration, len(signed), step))
    return sorted(p for p in positions if end_of_declaration <= p < len(signed))


def test_byte_flips_fail_the_outside_verifiers(
    signer_for: Callable[[str], Signer], dev_pki: DevPki, xmlsec1: str, tmp_path: Path
) -> None:
    """The XML declaration is outside what XML-DSig covers (xmlsec1 accepts
    version="1.1"); edxbus's own verifier refuses that too (test above)."""
    signed = signer_for(H41).sign(document(attachment_size=3_000))
    package = tmp_path / "flipped.edxml"
    accepted: list[tuple[int, str, str]] = []
    for position in _positions(signed):
        flipped = _flip(signed, position)
        package.write_bytes(flipped)
        context = signed[max(0, position - 12) : position + 4].decode("utf-8", "replace")
        if xmlsec1_verifies(xmlsec1, dev_pki.root_cert_path, package):
            accepted.append((position, "xmlsec1", context))
        if signxml_verifies(flipped, dev_pki.root_cert_path):
            accepted.append((position, "signxml", context))
    assert accepted == []


def test_the_xml_declaration_is_outside_what_xml_dsig_covers(
    signer_for: Callable[[str], Signer],
    verifier: Verifier,
    dev_pki: DevPki,
    xmlsec1: str,
    tmp_path: Path,
) -> None:
    """Flips in the declaration: edxbus refuses every one; the outside verifiers may
    accept at most the known gaps (version 1.0 -> 1.1 for both; for signxml, the
    declaration turned into a processing instruction `<?yml ...?>`, which it leaves
    outside URI="")."""
    signed = signer_for(H41).sign(document(attachment_size=300))
    declaration = signed[: signed.index(b"?>") + 2]
    assert declaration == b'<?xml version="1.0" encoding="UTF-8"?>'
    known_gaps = {("xmlsec1", 17), ("signxml", 17), ("signxml", 2), ("signxml", 3), ("signxml", 4)}
    package = tmp_path / "flipped.edxml"
    accepted = set()
    for position in range(len(declaration)):
        flipped = _flip(signed, position)
        with pytest.raises(EdxbusError):
            verifier.verify(flipped)
        package.write_bytes(flipped)
        if xmlsec1_verifies(xmlsec1, dev_pki.root_cert_path, package):
            accepted.add(("xmlsec1", position))
        if signxml_verifies(flipped, dev_pki.root_cert_path):
            accepted.add(("signxml", position))
    assert accepted <= known_gaps
