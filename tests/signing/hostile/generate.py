"""Regenerate the hostile signed-package corpus in this directory.

``python -m tests.signing.hostile.generate`` writes one ``.edxml`` file per attack,
named ``<reason-code>--<what>.edxml`` after the error edxbus must answer with, plus
the public material to verify them against: ``root.pem`` (the trust anchor) and
``crl.pem``. The private keys live only in a temporary directory and are discarded:
no private key is committed. Certificates are long-lived (50 years) so the corpus
stays valid; the expired one expired on purpose.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from signing import DevPki, Signer, load_certificate_file, load_private_key
from tests.signing._packages import DSIG, document, raw_sign, signature_element

HERE = Path(__file__).resolve().parent
H41 = "000.00.00.H41"
G22 = "000.00.00.G22"
LONG = 365 * 50


def _without(signed: bytes, local_name: str) -> bytes:
    root = etree.fromstring(signed)
    found = root.find(f".//{{{DSIG}}}{local_name}")
    assert found is not None
    parent = found.getparent()
    assert parent is not None
    parent.remove(found)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        now = datetime.now(UTC)
        pki = DevPki.init(Path(tmp) / "pki", valid_days=LONG, not_before=now - timedelta(days=800))
        pki.issue(H41, "UBND Tỉnh Nghệ An", valid_days=LONG)
        pki.issue(G22, "Văn phòng Chính phủ", valid_days=LONG)
        pki.issue(
            H41,
            slot="expired",
            not_before=now - timedelta(days=700),
            not_after=now - timedelta(days=365),
        )
        pki.issue(H41, slot="revoked", valid_days=LONG)
        pki.issue(H41, slot="no-sign", signing_usage=False, valid_days=LONG)
        pki.issue(H41, slot="no-uid", bind_agency=False, valid_days=LONG)
        foreign = DevPki.init(Path(tmp) / "foreign", name="impostor root CA", valid_days=LONG)
        foreign.issue(H41, "UBND Tỉnh Nghệ An", valid_days=LONG)

        def forged(slot: str, data: bytes, **options: str) -> bytes:
            paths = pki.paths(slot)
            key = load_private_key(paths.key_path)
            return raw_sign(data, key, load_certificate_file(paths.cert_path), **options)

        unsigned = document(attachment_size=1_500)
        genuine = pki.signer(H41).sign(unsigned)
        signature = signature_element(genuine)
        value_at = genuine.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>") + 7
        bad_value = bytearray(genuine)
        bad_value[value_at] = ord("A") if bad_value[value_at] != ord("A") else ord("B")
        attachment_at = genuine.index(b"</edXML:ContentTransferEncoded>") - 30
        bad_attachment = bytearray(genuine)
        bad_attachment[attachment_at] = (
            ord("A") if bad_attachment[attachment_at] != ord("A") else ord("B")
        )
        exc_c14n = (
            b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform>'
        )
        assert exc_c14n in genuine
        corpus = {
            "valid--genuine.edxml": genuine,
            "no-signature--unsigned.edxml": unsigned,
            "malformed-signature--no-certificate.edxml": _without(genuine, "KeyInfo"),
            "malformed-signature--no-signature-value.edxml": _without(genuine, "SignatureValue"),
            "digest-mismatch--subject-changed.edxml": genuine.replace(
                "triển khai".encode(), "hủy bỏ".encode(), 1
            ),
            "digest-mismatch--attachment-changed.edxml": bytes(bad_attachment),
            "signature-mismatch--value-changed.edxml": bytes(bad_value),
            "untrusted-certificate--foreign-root.edxml": foreign.signer(H41).sign(unsigned),
            "certificate-expired--expired.edxml": Signer.from_files(
                *pki.issue(
                    H41,
                    slot="expired-2",
                    not_before=now - timedelta(days=700),
                    not_after=now - timedelta(days=365),
                )
            ).sign(unsigned),
            "certificate-revoked--revoked.edxml": pki.signer("revoked").sign(unsigned),
            "key-usage--encipher-only.edxml": forged("no-sign", unsigned),
            "unbound-certificate--no-uid.edxml": forged("no-uid", unsigned),
            "sender-mismatch--other-agency.edxml": pki.signer(G22).sign(unsigned),
            "weak-algorithm--rsa-sha1.edxml": forged(
                H41, unsigned, signature_algorithm="rsa-sha1", digest_algorithm="sha1"
            ),
            "signature-wrapping--two-signatures.edxml": genuine.replace(
                b"<edXML:edXMLBody>", b"<edXML:edXMLBody>" + signature, 1
            ),
            "signature-wrapping--signature-in-body.edxml": genuine.replace(
                signature, b"", 1
            ).replace(b"<edXML:edXMLBody>", b"<edXML:edXMLBody>" + signature, 1),
            "signature-wrapping--partial-reference.edxml": forged(
                H41,
                unsigned.replace(b"<edXML:MessageHeader>", b'<edXML:MessageHeader Id="h">', 1),
                reference_uri="#h",
            ),
            "unsupported-algorithm--xpath-transform.edxml": genuine.replace(
                b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform>',
                b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
                b"<ds:XPath>not(ancestor-or-self::*[local-name()='edXMLBody'])</ds:XPath>"
                b"</ds:Transform>",
                1,
            ),
            "unsigned-content--stylesheet-pi.edxml": genuine.replace(
                b"?>", b"?><?xml-stylesheet href='x.xsl'?>", 1
            ),
            "unsigned-content--xml-1.1.edxml": genuine.replace(
                b'version="1.0"', b'version="1.1"', 1
            ),
        }
        pki.revoke("revoked")
        for old in HERE.glob("*.edxml"):
            old.unlink()
        for name, data in corpus.items():
            (HERE / name).write_bytes(data)
        shutil.copyfile(pki.root_cert_path, HERE / "root.pem")
        shutil.copyfile(pki.crl_path, HERE / "crl.pem")
    print(f"wrote {len(corpus)} packages, root.pem and crl.pem to {HERE}")


if __name__ == "__main__":
    main()
