"""EDXML packages for the signing tests, built with edxml (unsigned, deterministic content)."""

from __future__ import annotations

import random
from datetime import date

from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

import edxml

DSIG = "http://www.w3.org/2000/09/xmldsig#"
EDXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def attachment_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def document(
    sender: str = "000.00.00.H41",
    recipients: tuple[str, ...] = ("000.00.24.H44", "000.46.24.H44"),
    *,
    attachment_size: int = 2_000,
    subject: str = "Về việc triển khai công tác chuyển đổi số năm 2026",
    number: str = "1234",
) -> bytes:
    """An unsigned document package with one attachment of ``attachment_size`` bytes."""
    attachments = (
        [edxml.Attachment.from_bytes("quyet-dinh.pdf", attachment_bytes(attachment_size))]
        if attachment_size
        else []
    )
    package = edxml.new_document(
        sender,
        list(recipients),
        number=number,
        notation="UBND-VP",
        subject=subject,
        promulgation_date=date(2026, 11, 20),
        place="Vinh",
        content="Nội dung văn bản.",
        signer_name="Nguyễn Văn A",
        attachments=attachments,
    )
    return edxml.build(package)


class FieldFormSigner(XMLSigner):  # type: ignore[misc]
    """signxml's signer with SHA-1 allowed, to make the field forms of DOMAIN.md §4."""

    def check_deprecated_methods(self) -> None:
        return None


def raw_sign(
    data: bytes,
    key: object,
    certs: list[object],
    *,
    signature_algorithm: str = "rsa-sha256",
    digest_algorithm: str = "sha256",
    c14n: str = "http://www.w3.org/2001/10/xml-exc-c14n#",
    reference_uri: str | None = None,
) -> bytes:
    """Sign with signxml directly (no edxbus checks), the signature after TraceHeaderList.

    For forging the cases edxbus itself refuses to make: SHA-1 field forms, certificates
    that name no agency, references to part of the package.
    """
    root = etree.fromstring(data)
    trace = root.find(f"{{{EDXML}}}edXMLEnvelope/{{{EDXML}}}edXMLHeader/{{{EDXML}}}TraceHeaderList")
    placeholder = etree.Element(f"{{{DSIG}}}Signature", nsmap={"ds": DSIG})
    placeholder.set("Id", "placeholder")
    assert trace is not None
    trace.addnext(placeholder)
    signer = FieldFormSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=signature_algorithm,
        digest_algorithm=digest_algorithm,
        c14n_algorithm=c14n,
    )
    kwargs = {} if reference_uri is None else {"reference_uri": reference_uri}
    signed = signer.sign(root, key=key, cert=certs, **kwargs)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def strip_signature(signed: bytes, signature: bytes) -> bytes:
    """The signed bytes minus the inserted signature element (it appears exactly once)."""
    assert signed.count(signature) == 1
    return signed.replace(signature, b"", 1)


def signature_element(signed: bytes) -> bytes:
    """The bytes of the ``<ds:Signature>…</ds:Signature>`` element as spliced in."""
    start = signed.index(b"<ds:Signature")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    return signed[start:end]
