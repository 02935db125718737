"""The development PKI, and signing packages whose bytes try to confuse the splice."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

import signing
from edxml import MalformedXmlError
from signing import (
    DevPki,
    KeyType,
    PkiError,
    SignatureAlgorithm,
    Verifier,
    agency_code_of,
)
from tests.signing._packages import document, signature_element, strip_signature

H41 = "000.00.00.H41"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    pki = DevPki.init(tmp_path_factory.mktemp("devpki") / "pki")
    pki.issue(H41, "UBND Tỉnh Nghệ An")
    return pki


def test_layout_and_key_modes(pki: DevPki) -> None:
    assert pki.root_cert_path == pki.directory / "root" / "cert.pem"
    assert pki.crl_path == pki.directory / "crl.pem"
    for path in (pki.root_key_path, pki.paths(H41).key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pki.agencies() == [H41]
    root = pki.root_cert
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert = pki.certificate(H41)
    assert cert.issuer == root.subject
    assert agency_code_of(cert) == H41
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment


def test_open_reuses_the_same_root(pki: DevPki) -> None:
    again = DevPki.open(pki.directory)
    assert again.root_cert == pki.root_cert
    assert DevPki.init(pki.directory, exist_ok=True).root_cert == pki.root_cert
    with pytest.raises(PkiError, match="already exists"):
        DevPki.init(pki.directory)


def test_open_a_missing_pki(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="edx pki init"):
        DevPki.open(tmp_path)


@pytest.mark.parametrize("slot", ["../escape", "a/b", ".."])
def test_slots_cannot_leave_the_agencies_directory(pki: DevPki, slot: str) -> None:
    with pytest.raises(PkiError):
        pki.issue(H41, slot=slot)


def test_issue_options(pki: DevPki) -> None:
    now = datetime.now(UTC)
    pki.issue(H41, slot="window", not_before=now - timedelta(days=3), not_after=now)
    cert = pki.certificate("window")
    assert cert.not_valid_after_utc <= now
    with pytest.raises(PkiError, match="end after it starts"):
        pki.issue(H41, slot="backwards", not_before=now, not_after=now - timedelta(days=1))
    pki.issue("vxp.saas.03", key_type=KeyType.EC)  # test-hub ids are not the G1.G2.G3.G4 form
    assert pki.signer("vxp.saas.03").signature_algorithm is SignatureAlgorithm.ECDSA_SHA256


def test_reissue_replaces_the_cached_signer(pki: DevPki) -> None:
    pki.issue("000.00.00.G22", slot="G22-rotate")
    first = pki.signer("G22-rotate")
    assert pki.signer("G22-rotate") is first
    pki.issue("000.00.00.G22", slot="G22-rotate", replace=True)
    assert pki.signer("G22-rotate").certificate != first.certificate


def test_crl_is_signed_by_the_root_and_lists_revocations(pki: DevPki) -> None:
    pki.issue("000.00.00.H44", slot="H44-gone")
    pki.revoke("H44-gone")
    crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
    assert crl.is_signature_valid(pki.root_cert.public_key())  # type: ignore[arg-type]
    assert crl.issuer == pki.root_cert.subject
    serial = pki.certificate("H44-gone").serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    # revoking twice keeps one entry
    pki.revoke("H44-gone")
    assert (
        sum(
            1
            for e in x509.load_pem_x509_crl(pki.crl_path.read_bytes())
            if e.serial_number == serial
        )
        == 1
    )


# --- bytes that try to confuse the splice -------------------------------------------------


def test_end_tag_spelled_in_a_comment_before_the_real_one(pki: DevPki) -> None:
    unsigned = document().replace(
        b"<edXML:TraceHeaderList>",
        b"<edXML:TraceHeaderList><!-- </edXML:TraceHeaderList> -->",
        1,
    )
    signed = pki.signer(H41).sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    assert signed.index(b"<ds:Signature") > signed.index(b"-->")
    assert Verifier(pki.trust_store()).verify(signed).agency_code == H41


def test_byte_order_mark_and_crlf_are_kept(pki: DevPki) -> None:
    unsigned = b"\xef\xbb\xbf" + document().replace(b"\n", b"\r\n")
    signed = pki.signer(H41).sign(unsigned)
    assert signed.startswith(b"\xef\xbb\xbf")
    assert strip_signature(signed, signature_element(signed)) == unsigned
    assert Verifier(pki.trust_store()).verify(signed).agency_code == H41


def test_a_package_in_another_encoding_is_refused_clearly(pki: DevPki) -> None:
    """EDXML is UTF-8; a UTF-16 package would be corrupted by an ASCII splice."""
    unsigned = document().decode("utf-8").replace("UTF-8", "UTF-16").encode("utf-16")
    with pytest.raises(MalformedXmlError, match="UTF-16"):
        pki.signer(H41).sign(unsigned)


def test_pki_with_an_issuing_sub_ca(tmp_path: Path) -> None:
    pki = DevPki.init(tmp_path / "pki", intermediate=True)
    assert pki.intermediate_cert is not None
    assert (pki.directory / "intermediate" / "key.pem").is_file()
    assert pki.root_crl_path.is_file()
    _key, cert = pki.issue(H41, "UBND Tỉnh Nghệ An")
    chain = x509.load_pem_x509_certificates(cert.read_bytes())
    assert [c.issuer for c in chain] == [pki.intermediate_cert.subject, pki.root_cert.subject]
    signed = pki.signer(H41).sign(document())
    assert signed.count(b"<ds:X509Certificate>") == 2
    # the root alone is trusted: the sub-CA comes from KeyInfo
    result = Verifier(signing.TrustStore((pki.root_cert,))).verify(signed)
    assert result.chain == (chain[0], pki.intermediate_cert, pki.root_cert)
    # revocation goes through the sub-CA's CRL
    pki.revoke(H41)
    crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
    assert crl.issuer == pki.intermediate_cert.subject
    with pytest.raises(signing.CertificateRevokedError):
        Verifier(pki.trust_store()).verify(signed)
    reopened = DevPki.open(pki.directory)
    assert reopened.intermediate_cert == pki.intermediate_cert
    assert reopened.issuer_cert == pki.intermediate_cert
