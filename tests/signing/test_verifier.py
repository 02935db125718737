"""Verification: what a VerifiedPackage proves, and every named refusal (dev-PKI certificates)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree

import edxml
from signing import (
    Canonicalization,
    CertificateExpiredError,
    CertificateRevokedError,
    DevPki,
    DigestAlgorithm,
    DigestMismatchError,
    KeyUsageError,
    MalformedSignatureError,
    NoSignatureError,
    SenderMismatchError,
    SignatureAlgorithm,
    SignatureValueError,
    Signer,
    SigningError,
    TrustStore,
    UnboundCertificateError,
    UnnamespacedSignatureError,
    UnsignedContentError,
    UnsupportedAlgorithmError,
    UntrustedCertificateError,
    VerificationPolicy,
    Verifier,
    WeakAlgorithmError,
    certificate_fingerprint,
    load_certificate_file,
    load_private_key,
)
from tests.fixtures.samples import sample_files
from tests.signing._packages import DSIG, EDXML, FieldFormSigner, document, raw_sign

H41 = "000.00.00.H41"


@pytest.fixture(scope="module")
def signed(signer_for: Callable[[str], Signer]) -> bytes:
    return signer_for(H41).sign(document())


# --- what verification proves ------------------------------------------------------


def test_verified_package_names_signer_agency_and_algorithms(
    signed: bytes, verifier: Verifier, dev_pki: DevPki
) -> None:
    result = verifier.verify(signed)
    cert = dev_pki.certificate(H41)
    assert result.certificate == cert
    assert result.agency_code == H41
    assert result.sender_code == H41
    assert result.fingerprint == certificate_fingerprint(cert)
    assert result.signature_algorithm is SignatureAlgorithm.RSA_SHA256
    assert result.digest_algorithm is DigestAlgorithm.SHA256
    assert result.c14n is Canonicalization.EXCLUSIVE
    assert result.chain[-1] == dev_pki.root_cert
    assert result.signer_name == "UBND Tỉnh Nghệ An"


def test_signed_bytes_are_the_package_without_its_signature(
    signed: bytes, verifier: Verifier
) -> None:
    result = verifier.verify(signed)
    assert b"Signature" not in result.signed_bytes
    assert result.signed_root.tag == f"{{{EDXML}}}edXML"
    parsed = edxml.parse(result.signed_bytes)
    assert parsed.package.sender_code == H41
    assert parsed.package.attachments[0].size == 2_000


def test_verifier_from_directory_with_crl(dev_pki: DevPki, signed: bytes) -> None:
    verifier = Verifier.from_directory(dev_pki.root_dir, [dev_pki.crl_path])
    assert verifier.verify(signed).agency_code == H41


# --- the named refusals --------------------------------------------------------------


def test_no_signature(verifier: Verifier) -> None:
    with pytest.raises(NoSignatureError) as caught:
        verifier.verify(document())
    assert caught.value.reason_code == "no-signature"


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_field_samples_never_verify(
    path: Path, verifier: Verifier, trust_store: TrustStore
) -> None:
    """Their signatures are RSA-SHA1 over other bytes, some without the XML-DSig
    namespace; none may ever pass, whatever the policy."""
    data = path.read_bytes()
    for policy in (VerificationPolicy(), VerificationPolicy(allow_sha1=True)):
        with pytest.raises(edxml.EdxbusError):
            Verifier(trust_store, policy).verify(data)
    if b"<Signature>" in data and data.startswith(b"<"):  # edoc_new.edxml: stray bytes first
        with pytest.raises(UnnamespacedSignatureError) as caught:
            verifier.verify(data)
        assert caught.value.reason_code == "signature-without-namespace"


def test_digest_mismatch_when_content_changes(signed: bytes, verifier: Verifier) -> None:
    tampered = signed.replace("triển khai".encode(), "hủy bỏ".encode(), 1)
    assert tampered != signed
    with pytest.raises(DigestMismatchError) as caught:
        verifier.verify(tampered)
    assert caught.value.reason_code == "digest-mismatch"


def test_digest_mismatch_when_an_attachment_changes(signed: bytes, verifier: Verifier) -> None:
    start = signed.index(b"</edXML:ContentTransferEncoded>") - 40
    letter = signed[start : start + 1]
    tampered = signed[:start] + (b"B" if letter != b"B" else b"C") + signed[start + 1 :]
    with pytest.raises(DigestMismatchError):
        verifier.verify(tampered)


def test_signature_value_mismatch_when_signed_info_changes(
    signed: bytes, verifier: Verifier
) -> None:
    match = re.search(rb"<ds:DigestValue>([^<]+)</ds:DigestValue>", signed)
    assert match is not None
    other = base64.b64encode(bytes(32)).decode().encode()
    tampered = signed.replace(match.group(1), other)
    with pytest.raises(SignatureValueError) as caught:
        verifier.verify(tampered)
    assert caught.value.reason_code == "signature-mismatch"


def test_signature_value_mismatch_when_the_value_changes(signed: bytes, verifier: Verifier) -> None:
    match = re.search(rb"<ds:SignatureValue>([^<]+)</ds:SignatureValue>", signed)
    assert match is not None
    value = bytearray(base64.b64decode(match.group(1)))
    value[10] ^= 0xFF
    tampered = signed.replace(match.group(1), base64.b64encode(bytes(value)))
    with pytest.raises(SignatureValueError):
        verifier.verify(tampered)


def test_untrusted_root(other_pki: DevPki, verifier: Verifier) -> None:
    forged = other_pki.signer(H41).sign(document())
    with pytest.raises(UntrustedCertificateError) as caught:
        verifier.verify(forged)
    assert caught.value.reason_code == "untrusted-certificate"


def test_expired_certificate(dev_pki: DevPki, verifier: Verifier) -> None:
    now = datetime.now(UTC)
    key, cert = dev_pki.issue(
        H41,
        slot="H41-expired",
        not_before=now - timedelta(hours=20),
        not_after=now - timedelta(hours=2),
    )
    # the signer itself does not check dates: a verifier must
    package = Signer.from_files(key, cert).sign(document())
    with pytest.raises(CertificateExpiredError) as caught:
        verifier.verify(package)
    assert caught.value.reason_code == "certificate-expired"
    assert not caught.value.not_yet_valid
    # an auditor verifying at a time the certificate was valid accepts it
    assert verifier.verify(package, at=now - timedelta(hours=10)).agency_code == H41


def test_not_yet_valid_certificate(dev_pki: DevPki, verifier: Verifier) -> None:
    now = datetime.now(UTC)
    key, cert = dev_pki.issue(H41, slot="H41-future", not_before=now + timedelta(days=2))
    package = Signer.from_files(key, cert).sign(document())
    with pytest.raises(CertificateExpiredError) as caught:
        verifier.verify(package)
    assert caught.value.not_yet_valid
    assert "not yet valid" in str(caught.value)


def test_clock_skew_is_tolerated(dev_pki: DevPki, trust_store: TrustStore) -> None:
    now = datetime.now(UTC)
    key, cert = dev_pki.issue(H41, slot="H41-skew", not_before=now + timedelta(minutes=2))
    package = Signer.from_files(key, cert).sign(document())
    assert Verifier(trust_store).verify(package).agency_code == H41
    strict = Verifier(trust_store, VerificationPolicy(clock_skew=timedelta(0)))
    with pytest.raises(CertificateExpiredError):
        strict.verify(package)


def test_revoked_certificate(dev_pki: DevPki) -> None:
    dev_pki.issue(H41, slot="H41-revoked")
    package = dev_pki.signer("H41-revoked").sign(document())
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert Verifier(dev_pki.trust_store()).verify(package).agency_code == H41
    dev_pki.revoke("H41-revoked")
    fresh = Verifier(dev_pki.trust_store())
    with pytest.raises(CertificateRevokedError) as caught:
        fresh.verify(package)
    assert caught.value.reason_code == "certificate-revoked"
    assert caught.value.serial_number == dev_pki.certificate("H41-revoked").serial_number
    # the revocation takes effect from its date: verified as of before it, it held
    assert fresh.verify(package, at=before).agency_code == H41
    # and the policy may skip revocation checks on purpose
    unchecked = Verifier(dev_pki.trust_store(), VerificationPolicy(check_revocation=False))
    assert unchecked.verify(package).agency_code == H41


def test_revoking_keeps_earlier_revocations(dev_pki: DevPki) -> None:
    dev_pki.issue("000.00.00.H44", slot="H44-a")
    dev_pki.issue("000.00.00.H44", slot="H44-b")
    dev_pki.revoke("H44-a")
    dev_pki.revoke("H44-b")
    serials = dev_pki.revoked_serials()
    assert dev_pki.certificate("H44-a").serial_number in serials
    assert dev_pki.certificate("H44-b").serial_number in serials


def _forged_with(dev_pki: DevPki, slot: str, **certificate: Any) -> bytes:
    """A document signed by signxml directly (edxbus would refuse to) with a certificate
    issued to H41 under ``slot`` with the ``certificate`` options."""
    key, cert = dev_pki.issue(H41, slot=slot, replace=True, **certificate)
    return raw_sign(document(), load_private_key(key), load_certificate_file(cert))


def test_certificate_not_allowed_to_sign(dev_pki: DevPki, verifier: Verifier) -> None:
    forged = _forged_with(dev_pki, "H41-no-sign", signing_usage=False)
    with pytest.raises(KeyUsageError) as caught:
        verifier.verify(forged)
    assert caught.value.reason_code == "key-usage"


def test_certificate_naming_no_agency(dev_pki: DevPki, verifier: Verifier) -> None:
    forged = _forged_with(dev_pki, "H41-no-uid", bind_agency=False)
    with pytest.raises(UnboundCertificateError) as caught:
        verifier.verify(forged)
    assert caught.value.reason_code == "unbound-certificate"


def test_sender_mismatch_another_agencys_certificate(
    signer_for: Callable[[str], Signer], verifier: Verifier, trust_store: TrustStore
) -> None:
    impersonation = signer_for("000.00.00.G22").sign(document(sender=H41))
    with pytest.raises(SenderMismatchError) as caught:
        verifier.verify(impersonation)
    assert caught.value.reason_code == "sender-mismatch"
    assert (caught.value.sender, caught.value.agency) == (H41, "000.00.00.G22")
    lenient = Verifier(trust_store, VerificationPolicy(require_sender_binding=False))
    assert lenient.verify(impersonation).agency_code == "000.00.00.G22"


INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


def _raw_signed_by_h41(dev_pki: DevPki, **forms: str) -> bytes:
    """A document signed with H41's dev key by signxml directly, in the ``forms`` asked."""
    signer = dev_pki.signer(H41)
    return raw_sign(document(), signer.key, [signer.certificate], **forms)


def test_sha1_field_form_is_weak_unless_allowed(dev_pki: DevPki, trust_store: TrustStore) -> None:
    field_form = _raw_signed_by_h41(
        dev_pki, signature_algorithm="rsa-sha1", digest_algorithm="sha1", c14n=INCLUSIVE_C14N
    )
    with pytest.raises(WeakAlgorithmError) as caught:
        Verifier(trust_store).verify(field_form)
    assert caught.value.reason_code == "weak-algorithm"
    result = Verifier(trust_store, VerificationPolicy(allow_sha1=True)).verify(field_form)
    assert result.signature_algorithm is SignatureAlgorithm.RSA_SHA1
    assert result.digest_algorithm is DigestAlgorithm.SHA1
    assert result.c14n is Canonicalization.INCLUSIVE
    assert result.agency_code == H41


def test_sha256_with_inclusive_c14n_is_accepted(dev_pki: DevPki, verifier: Verifier) -> None:
    form = _raw_signed_by_h41(dev_pki, c14n=INCLUSIVE_C14N)
    assert verifier.verify(form).c14n is Canonicalization.INCLUSIVE


def test_short_rsa_key_is_weak(dev_pki: DevPki, verifier: Verifier) -> None:
    dev_pki.issue(H41, slot="H41-short", rsa_bits=1024, replace=True)
    package = dev_pki.signer("H41-short").sign(document())
    with pytest.raises(WeakAlgorithmError, match="1024"):
        verifier.verify(package)


# --- malformed signatures ------------------------------------------------------------


def _edit_signature(signed: bytes, edit: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(signed)
    signature = root.find(f".//{{{DSIG}}}Signature")
    assert signature is not None
    edit(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_signature_without_certificate(signed: bytes, verifier: Verifier) -> None:
    def drop_key_info(signature: etree._Element) -> None:
        key_info = signature.find(f"{{{DSIG}}}KeyInfo")
        assert key_info is not None
        signature.remove(key_info)

    with pytest.raises(MalformedSignatureError, match="no certificate"):
        verifier.verify(_edit_signature(signed, drop_key_info))


def test_unreadable_signature_value(signed: bytes, verifier: Verifier) -> None:
    def garble(signature: etree._Element) -> None:
        value = signature.find(f"{{{DSIG}}}SignatureValue")
        assert value is not None
        value.text = "not base64 at all!"

    with pytest.raises(MalformedSignatureError):
        verifier.verify(_edit_signature(signed, garble))


def test_unknown_signature_method(signed: bytes, verifier: Verifier) -> None:
    tampered = signed.replace(
        SignatureAlgorithm.RSA_SHA256.value.encode(), b"http://example.org/none"
    )
    with pytest.raises(UnsupportedAlgorithmError):
        verifier.verify(tampered)


def test_processing_instruction_beside_the_root(signed: bytes, verifier: Verifier) -> None:
    head, rest = signed.split(b"?>", 1)
    with pytest.raises(UnsignedContentError):
        verifier.verify(head + b"?><?xml-stylesheet href='x.xsl'?>" + rest)


def test_xml_version_outside_the_signature(signed: bytes, verifier: Verifier) -> None:
    with pytest.raises(UnsignedContentError):
        verifier.verify(signed.replace(b'version="1.0"', b'version="1.1"', 1))


def test_every_refusal_is_a_signing_or_format_error(signed: bytes, verifier: Verifier) -> None:
    with pytest.raises(edxml.EdxmlError):
        verifier.verify(signed[: len(signed) // 2])
    with pytest.raises(SigningError):
        verifier.verify(signed.replace(b"<ds:SignedInfo>", b"<ds:SignedInfo><ds:Foo/>", 1))


def test_naive_verification_time_is_refused(signed: bytes, verifier: Verifier) -> None:
    with pytest.raises(ValueError, match="timezone"):
        verifier.verify(signed, at=datetime(2026, 1, 1))


def test_field_form_without_c14n_transform(dev_pki: DevPki, trust_store: TrustStore) -> None:
    """The SDK's form: enveloped-signature as the only transform, RSA-SHA1, inclusive
    C14N; the reference is then canonicalised with inclusive C14N 1.0."""
    signer = dev_pki.signer(H41)
    root = etree.fromstring(document())
    trace = root.find(f"{{{EDXML}}}edXMLEnvelope/{{{EDXML}}}edXMLHeader/{{{EDXML}}}TraceHeaderList")
    assert trace is not None
    placeholder = etree.Element(f"{{{DSIG}}}Signature", nsmap={"ds": DSIG})
    placeholder.set("Id", "placeholder")
    trace.addnext(placeholder)
    signed_root = FieldFormSigner(
        signature_algorithm="rsa-sha1",
        digest_algorithm="sha1",
        c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    ).sign(root, key=signer.key, cert=[signer.certificate], exclude_c14n_transform_element=True)
    field_form = etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8")
    assert field_form.count(b"<ds:Transform ") == 1
    result = Verifier(trust_store, VerificationPolicy(allow_sha1=True)).verify(field_form)
    assert result.agency_code == H41
    with pytest.raises(WeakAlgorithmError):
        Verifier(trust_store).verify(field_form)


def test_field_exclusive_c14n_misspelling_is_named(
    samples_dir: Path, trust_store: TrustStore
) -> None:
    """The SDK samples name exclusive C14N by a URI no verifier knows."""
    data = (samples_dir / "vxp-sdk" / "edoc_revocation.edxml").read_bytes()
    assert b"http://www.w3.org/TR/xml-exc-c14n#" in data
    namespaced = data.replace(
        b"<Signature>", b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
    )
    with pytest.raises(UnsupportedAlgorithmError, match="misspelling"):
        Verifier(trust_store, VerificationPolicy(allow_sha1=True)).verify(namespaced)


def test_parse_limits_apply(signed: bytes, trust_store: TrustStore) -> None:
    small = Verifier(trust_store, limits=edxml.Limits(max_package_bytes=1_000))
    with pytest.raises(edxml.PackageTooLargeError):
        small.verify(signed)


def test_one_signer_and_one_verifier_shared_by_threads(
    signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    signer = signer_for(H41)
    packages = [document(number=str(n), attachment_size=500 + n) for n in range(24)]

    def round_trip(package: bytes) -> bytes:
        return verifier.verify(signer.sign(package)).signed_bytes

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(round_trip, packages))
    for package, signed_bytes in zip(packages, results, strict=True):
        assert edxml.parse(signed_bytes).package.code == edxml.parse(package).package.code


def test_extended_key_usage_must_allow_signing(dev_pki: DevPki, verifier: Verifier) -> None:
    forged = _forged_with(dev_pki, "H41-tls", extended_usages=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(KeyUsageError, match="other purposes"):
        verifier.verify(forged)
    dev_pki.issue(
        H41,
        slot="H41-client",
        extended_usages=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION],
        replace=True,
    )
    assert verifier.verify(dev_pki.signer("H41-client").sign(document())).agency_code == H41


def test_a_package_naming_no_sender(
    signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    unsigned = document().replace(b"<edXML:OrganId>000.00.00.H41</edXML:OrganId>", b"", 1)
    signed = signer_for(H41).sign(unsigned)
    with pytest.raises(SenderMismatchError, match="names no sender") as caught:
        verifier.verify(signed)
    assert caught.value.sender == ""
