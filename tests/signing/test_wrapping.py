"""Signature wrapping and substitution attempts: each is refused, with its reason."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from signing import (
    DevPki,
    DigestMismatchError,
    MalformedSignatureError,
    SignatureValueError,
    SignatureWrappingError,
    Signer,
    SigningError,
    UnsupportedAlgorithmError,
    Verifier,
)
from tests.signing._packages import DSIG, EDXML, document, raw_sign, signature_element

H41 = "000.00.00.H41"
E = f"{{{EDXML}}}"


@pytest.fixture(scope="module")
def genuine(signer_for: Callable[[str], Signer]) -> bytes:
    return signer_for(H41).sign(document())


def test_second_signature_elsewhere_is_refused(genuine: bytes, verifier: Verifier) -> None:
    signature = signature_element(genuine)
    wrapped = genuine.replace(b"<edXML:edXMLBody>", b"<edXML:edXMLBody>" + signature, 1)
    with pytest.raises(SignatureWrappingError, match="2 signatures"):
        verifier.verify(wrapped)


def test_signature_moved_out_of_the_header_is_refused(genuine: bytes, verifier: Verifier) -> None:
    signature = signature_element(genuine)
    moved = genuine.replace(signature, b"", 1)
    moved = moved.replace(b"<edXML:edXMLBody>", b"<edXML:edXMLBody>" + signature, 1)
    with pytest.raises(SignatureWrappingError, match="edXMLHeader"):
        verifier.verify(moved)


def test_signature_over_part_of_the_package_is_refused(dev_pki: DevPki, verifier: Verifier) -> None:
    """A genuine signature whose reference covers only the MessageHeader: the body
    (attachments) could then be anything."""
    signer = dev_pki.signer(H41)
    unsigned = document().replace(b"<edXML:MessageHeader>", b'<edXML:MessageHeader Id="header">', 1)
    partial = raw_sign(unsigned, signer.key, [signer.certificate], reference_uri="#header")
    with pytest.raises(SignatureWrappingError, match="not the whole package"):
        verifier.verify(partial)


def test_original_hidden_inside_the_signature_does_not_help(
    genuine: bytes, verifier: Verifier
) -> None:
    """Classic XSW: keep the signed original inside ds:Object, change the visible package."""
    root = etree.fromstring(genuine)
    original = etree.fromstring(genuine)
    signature = root.find(f".//{{{DSIG}}}Signature")
    assert signature is not None
    holder = etree.SubElement(signature, f"{{{DSIG}}}Object")
    holder.append(original)
    subject = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader/{E}Subject")
    assert subject is not None
    subject.text = "Văn bản giả mạo"
    forged = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with pytest.raises(SigningError) as caught:
        verifier.verify(forged)
    assert isinstance(caught.value, DigestMismatchError | SignatureWrappingError)


def test_signature_transplanted_onto_another_package(genuine: bytes, verifier: Verifier) -> None:
    other = document(number="9999")
    transplanted = other.replace(
        b"</edXML:TraceHeaderList>", b"</edXML:TraceHeaderList>" + signature_element(genuine), 1
    )
    with pytest.raises(DigestMismatchError):
        verifier.verify(transplanted)


def test_certificate_swapped_for_a_trusted_one(
    other_pki: DevPki, dev_pki: DevPki, verifier: Verifier
) -> None:
    """An impostor signs with their own key but presents the genuine agency certificate."""
    root = etree.fromstring(other_pki.signer(H41).sign(document()))
    element = root.find(f".//{{{DSIG}}}X509Certificate")
    assert element is not None
    genuine_cert = dev_pki.certificate(H41).public_bytes(serialization.Encoding.DER)
    element.text = base64.b64encode(genuine_cert).decode()
    forged = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with pytest.raises(SignatureValueError):
        verifier.verify(forged)


def test_xpath_transform_is_refused(genuine: bytes, verifier: Verifier) -> None:
    xpath = (
        b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
        b"<ds:XPath>not(ancestor-or-self::*[local-name()='edXMLBody'])</ds:XPath></ds:Transform>"
    )
    edited = re.sub(rb"(<ds:Transforms>)", rb"\1" + xpath.replace(b"\\", b"\\\\"), genuine, count=1)
    edited = edited.replace(
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>',
        b"",
        1,
    ).replace(
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature">'
        b"</ds:Transform>",
        b"",
        1,
    )
    with pytest.raises((UnsupportedAlgorithmError, SignatureWrappingError)):
        verifier.verify(edited)


def test_comments_are_not_part_of_what_was_signed(genuine: bytes, verifier: Verifier) -> None:
    """URI="" excludes comments: a comment splitting a value changes nothing signed,
    and the verified view (signed_root) never shows it."""
    commented = genuine.replace(b">000.00.00.H41<", b">000.00.00.H<!-- x -->41<", 1)
    result = verifier.verify(commented)
    assert b"<!--" not in result.signed_bytes
    organ = result.signed_root.find(
        f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader/{E}From/{E}OrganId"
    )
    assert organ is not None
    assert organ.text == H41


def test_keyinfo_padded_with_certificates_is_refused(
    genuine: bytes, verifier: Verifier, dev_pki: DevPki
) -> None:
    root = etree.fromstring(genuine)
    x509_data = root.find(f".//{{{DSIG}}}X509Data")
    assert x509_data is not None
    der = dev_pki.root_cert.public_bytes(serialization.Encoding.DER)
    for _ in range(10):
        etree.SubElement(x509_data, f"{{{DSIG}}}X509Certificate").text = base64.b64encode(
            der
        ).decode()
    padded = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with pytest.raises(MalformedSignatureError, match="11 certificates"):
        verifier.verify(padded)
