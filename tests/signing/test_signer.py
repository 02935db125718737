"""Signing: the signature's form and place, and that no other byte of the package changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import edxml
from edxml import Limits, MalformedXmlError, TextTooLongError
from signing import (
    AlreadySignedError,
    CredentialError,
    DevPki,
    KeyMismatchError,
    KeyType,
    KeyUsageError,
    SenderMismatchError,
    SignatureAlgorithm,
    Signer,
    TrustStore,
    UnboundCertificateError,
    VerificationPolicy,
    Verifier,
)
from tests.signing._packages import (
    DSIG,
    EDXML,
    attachment_bytes,
    document,
    signature_element,
    strip_signature,
)

DS = {"ds": DSIG, "e": EDXML}
H41 = "000.00.00.H41"


def test_signature_form_is_the_one_domain_md_describes(
    signer_for: Callable[[str], Signer],
) -> None:
    signed = signer_for("000.00.00.H41").sign(document())
    root = etree.fromstring(signed)
    header = root.find("e:edXMLEnvelope/e:edXMLHeader", DS)
    assert header is not None
    children = [c for c in header if isinstance(c.tag, str)]
    assert [etree.QName(c).localname for c in children] == [
        "MessageHeader",
        "TraceHeaderList",
        "Signature",
    ]
    signature = children[2]
    assert etree.QName(signature).namespace == DSIG
    info = signature.find("ds:SignedInfo", DS)
    assert info is not None
    assert info.find("ds:CanonicalizationMethod", DS).get("Algorithm") == (  # type: ignore[union-attr]
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    )
    assert info.find("ds:SignatureMethod", DS).get("Algorithm") == (  # type: ignore[union-attr]
        SignatureAlgorithm.RSA_SHA256.value
    )
    references = info.findall("ds:Reference", DS)
    assert len(references) == 1
    assert references[0].get("URI") == ""
    transforms = [
        t.get("Algorithm") for t in references[0].findall("ds:Transforms/ds:Transform", DS)
    ]
    assert transforms == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    certs = signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", DS)
    assert len(certs) == 1
    # the signature declares only the namespace it uses
    assert b"xmlns:edXML" not in signature_element(signed)
    assert b'xmlns="' not in signature_element(signed)


def test_signing_changes_no_other_byte(signer_for: Callable[[str], Signer]) -> None:
    unsigned = document(attachment_size=10_000)
    signed = signer_for("000.00.00.H41").sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    # inserted right after the trace list's end tag
    offset = signed.index(b"<ds:Signature")
    assert signed[:offset].endswith(b"</edXML:TraceHeaderList>")


def test_field_bytes_stay_as_written(
    signer_for: Callable[[str], Signer], samples_dir: Path, verifier: Verifier
) -> None:
    """CRLF line ends, tabs, odd indentation and a status package without a trace list."""
    unsigned = (samples_dir / "vxp-sdk" / "status_inbox_01.edxml").read_bytes()
    assert b"\r\n" in unsigned or b"\t" in unsigned
    signed = signer_for("000.00.00.H41").sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    # no TraceHeaderList: the signature closes edXMLHeader
    assert signed.index(b"</ds:Signature>") < signed.index(b"</edXML:edXMLHeader>")
    assert verifier.verify(signed).agency_code == "000.00.00.H41"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    subject=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        min_size=1,
        max_size=80,
    ).filter(lambda s: s.strip() != ""),
    size=st.integers(min_value=0, max_value=4_000),
)
def test_sign_then_verify_round_trips_any_content(
    signer_for: Callable[[str], Signer], verifier: Verifier, subject: str, size: int
) -> None:
    unsigned = document(subject=subject, attachment_size=size)
    signed = signer_for("000.00.00.H41").sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    result = verifier.verify(signed)
    parsed = edxml.parse(result.signed_bytes)
    assert parsed.package.subject.strip() == subject.strip()


def test_ecdsa_p256_option(dev_pki: DevPki, verifier: Verifier) -> None:
    dev_pki.issue("000.00.00.H44", slot="H44-ec", key_type=KeyType.EC)
    signer = dev_pki.signer("H44-ec")
    assert signer.signature_algorithm is SignatureAlgorithm.ECDSA_SHA256
    signed = signer.sign(document(sender="000.00.00.H44"))
    assert SignatureAlgorithm.ECDSA_SHA256.value.encode() in signed
    result = verifier.verify(signed)
    assert result.signature_algorithm is SignatureAlgorithm.ECDSA_SHA256
    assert result.agency_code == "000.00.00.H44"


def test_signing_a_signed_package_is_refused(signer_for: Callable[[str], Signer]) -> None:
    signer = signer_for("000.00.00.H41")
    with pytest.raises(AlreadySignedError):
        signer.sign(signer.sign(document()))


@pytest.mark.parametrize("use_profile", [True, False])
def test_a_package_that_cannot_be_canonicalised_is_named(
    dev_pki: DevPki, use_profile: bool
) -> None:
    """A relative namespace URI has no canonical form: a named refusal, not lxml's error."""
    signer = replace(dev_pki.signer("000.00.00.H41"), use_profile=use_profile)
    package = document().replace(
        b"<edXML:edXMLEnvelope ", b'<edXML:edXMLEnvelope xmlns:r="rel/ns" ', 1
    )
    assert b'xmlns:r="rel/ns"' in package
    with pytest.raises(MalformedXmlError, match="canonicalised"):
        signer.sign(package)


def test_a_field_signature_without_namespace_counts_as_signed(
    signer_for: Callable[[str], Signer], samples_dir: Path
) -> None:
    field = (samples_dir / "vxp-sdk" / "edoc_update.edxml").read_bytes()
    with pytest.raises(AlreadySignedError):
        signer_for("000.00.00.H41").sign(field)


def test_check_sender_refuses_another_agencys_package(
    signer_for: Callable[[str], Signer],
) -> None:
    signer = signer_for("000.00.00.G22")
    with pytest.raises(SenderMismatchError) as caught:
        signer.sign(document(sender="000.00.00.H41"), check_sender=True)
    assert caught.value.sender == "000.00.00.H41"
    assert caught.value.agency == "000.00.00.G22"
    # without the check it signs (the verifier is what refuses it)
    assert b"<ds:Signature" in signer.sign(document(sender="000.00.00.H41"))


def test_key_of_another_certificate_is_refused(dev_pki: DevPki) -> None:
    h41 = dev_pki.paths("000.00.00.H41")
    g22 = dev_pki.paths("000.00.00.G22")
    with pytest.raises(KeyMismatchError):
        Signer.from_files(g22.key_path, h41.cert_path)


def test_unusable_credentials_are_named(dev_pki: DevPki, tmp_path: Path) -> None:
    paths = dev_pki.paths("000.00.00.H41")
    with pytest.raises(CredentialError, match="cannot read"):
        Signer.from_files(tmp_path / "missing.pem", paths.cert_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CredentialError):
        Signer.from_files(garbage, paths.cert_path)
    with pytest.raises(CredentialError):
        Signer.from_files(paths.key_path, garbage)


def test_certificates_that_may_not_sign_are_refused_up_front(dev_pki: DevPki) -> None:
    key, cert = dev_pki.issue("000.00.00.H41", slot="H41-encipher-only", signing_usage=False)
    with pytest.raises(KeyUsageError):
        Signer.from_files(key, cert)
    key, cert = dev_pki.issue("000.00.00.H41", slot="H41-unbound", bind_agency=False)
    with pytest.raises(UnboundCertificateError):
        Signer.from_files(key, cert)


def test_signer_holds_loaded_objects(signer_for: Callable[[str], Signer]) -> None:
    signer = signer_for("000.00.00.H41")
    assert signer.agency_code == "000.00.00.H41"
    assert len(signer.fingerprint) == 64
    assert "PrivateKey" not in repr(signer)


def test_pkcs12_bundle_and_encrypted_pem(
    dev_pki: DevPki, verifier: Verifier, tmp_path: Path
) -> None:
    signer = dev_pki.signer(H41)
    bundle = dev_pki.export_pkcs12(H41, tmp_path / "agency.p12", b"secret")
    loaded = Signer.from_pkcs12(bundle, password=b"secret")
    assert loaded.certificate == signer.certificate
    assert verifier.verify(loaded.sign(document())).agency_code == H41
    with pytest.raises(CredentialError, match="PKCS#12"):
        Signer.from_pkcs12(bundle, password=b"wrong")
    encrypted = tmp_path / "key.pem"
    encrypted.write_bytes(
        signer.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    cert = dev_pki.paths(H41).cert_path
    assert Signer.from_files(encrypted, cert, password=b"secret").agency_code == H41
    with pytest.raises(CredentialError, match="encrypted"):
        Signer.from_files(encrypted, cert)


def test_a_root_with_an_id_is_still_signed_whole(
    signer_for: Callable[[str], Signer], verifier: Verifier
) -> None:
    unsigned = document().replace(b"<edXML xmlns=", b'<edXML Id="package-1" xmlns=', 1)
    signed = signer_for(H41).sign(unsigned)
    assert b'<ds:Reference URI="">' in signed
    assert verifier.verify(signed).agency_code == H41


def test_sha1_is_never_used_to_sign(dev_pki: DevPki) -> None:
    from signing import WeakAlgorithmError

    signer = dev_pki.signer(H41)
    with pytest.raises(WeakAlgorithmError):
        Signer(signer.key, signer.certificate, algorithm=SignatureAlgorithm.RSA_SHA1)
    with pytest.raises(CredentialError, match="cannot sign with"):
        Signer(signer.key, signer.certificate, algorithm=SignatureAlgorithm.ECDSA_SHA256)


_SPACING = st.sampled_from(["", " ", "\n", "\r\n", "\t", "\n    ", "<!-- ghi chú -->", "<?pi x?>"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spacing=st.lists(_SPACING, min_size=6, max_size=6))
def test_byte_preservation_whatever_the_layout(
    signer_for: Callable[[str], Signer], verifier: Verifier, spacing: list[str]
) -> None:
    """Comments, processing instructions, CRLF and odd indentation around the trace
    list and inside the header stay exactly where the sender put them."""
    unsigned = document(attachment_size=200)
    anchors = [
        b"<edXML:TraceHeaderList>",
        b"</edXML:TraceHeaderList>",
        b"</edXML:MessageHeader>",
        b"<edXML:edXMLHeader>",
        b"</edXML:edXMLHeader>",
        b"<edXML:edXMLBody>",
    ]
    for anchor, extra in zip(anchors, spacing, strict=True):
        assert unsigned.count(anchor) == 1
        unsigned = unsigned.replace(anchor, anchor + extra.encode(), 1)
    signed = signer_for(H41).sign(unsigned)
    assert strip_signature(signed, signature_element(signed)) == unsigned
    assert verifier.verify(signed).agency_code == H41


@pytest.mark.slow
def test_attachments_over_libxml2s_text_cap_sign_and_verify_when_limits_allow(
    signer_for: Callable[[str], Signer], trust_store: TrustStore
) -> None:
    """A 9 MB scan: refused by the safe defaults (named), signed, verified and read
    whole once the caller's Limits admit it (``EDX_LARGE_ATTACHMENTS``)."""
    data = document(attachment_size=9_000_000)
    signer = signer_for("000.00.00.H41")
    with pytest.raises(TextTooLongError):
        signer.sign(data)
    large = Limits(large_text=True, max_attachment_bytes=20_000_000)
    signed = signer.sign(data, limits=large)
    verified = Verifier(trust_store, VerificationPolicy(), limits=large).verify(signed)
    package = edxml.parse(verified.signed_bytes, limits=large).package
    assert isinstance(package, edxml.DocumentPackage)
    assert package.attachments[0].data == attachment_bytes(9_000_000)
    with pytest.raises(TextTooLongError):
        Verifier(trust_store, VerificationPolicy()).verify(signed)
