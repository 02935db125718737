"""Signing in the one signature profile edxbus signs, with lxml and ``cryptography`` alone.

The profile (:mod:`signing._profile`): one reference ``URI=""``, the
enveloped-signature transform then exclusive C14N, SHA-256, RSA-SHA256 or
ECDSA-SHA256, the certificate chain in ``KeyInfo/X509Data``, exclusive C14N of
``SignedInfo``. For one signer everything in that signature is fixed but two
texts, the digest value and the signature value, so the signature element is
built once per signer (with lxml, then canonicalised) and split around those two
texts; each package then costs exactly its primitives: exclusive C14N of the
package as parsed, SHA-256, SignedInfo put together from its template, one
signature with ``cryptography``.

The bytes are those signxml writes for the same key, certificates and package
(``tests/signing/test_differential.py`` holds them to it, byte for byte for RSA,
and to xmlsec1): the reference is over the package without the signature, which
is the package as parsed, since a package to sign carries none.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from signing._xml import DSIG_NS
from signing.certificates import PrivateKey
from signing.policy import Canonicalization, DigestAlgorithm, SignatureAlgorithm

__all__ = ["ProfileSigner", "canonical_package"]

_DS = f"{{{DSIG_NS}}}"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#: Stand in for the two texts while the template is made: no base64 text holds "-".
_DIGEST_MARKER = b"-edxbus-digest-value-"
_VALUE_MARKER = b"-edxbus-signature-value-"
#: Stateless parameter objects, made once.
_PKCS1, _SHA256 = padding.PKCS1v15(), hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)


def _exclusive(element: etree._Element) -> bytes:
    """Exclusive C14N without comments, as the profile's transforms and SignedInfo say."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def canonical_package(root: etree._Element) -> bytes:
    """What the reference digests: the package, exclusive C14N, comments left out.

    The package carries no signature yet, so the enveloped-signature transform
    leaves it as it is. A namespace URI C14N refuses (a relative one) raises
    lxml's ``C14NError``; ``Signer.sign`` names it (``MalformedXmlError``).
    """
    return _exclusive(root)


def _pem_body(certificate: x509.Certificate) -> str:
    """The certificate's PEM without its BEGIN/END lines: base64 in lines of 64,
    each ending with a newline (the form signxml writes in ``X509Certificate``)."""
    lines = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii").splitlines()
    return "".join(f"{line}\n" for line in lines if not line.startswith("-----"))


def _split(canonical: bytes, *markers: bytes) -> tuple[bytes, ...]:
    """``canonical`` cut around each marker, which must appear exactly once, in order."""
    parts: list[bytes] = []
    rest = canonical
    for marker in markers:
        if canonical.count(marker) != 1:
            raise AssertionError(f"the signature template holds {marker!r} not exactly once")
        before, _, rest = rest.partition(marker)
        parts.append(before)
    parts.append(rest)
    return tuple(parts)


def _templates(
    method: SignatureAlgorithm, certificates: tuple[x509.Certificate, ...]
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """Canonical ``SignedInfo`` split around the digest value, and the canonical
    ``Signature`` split around the digest value and the signature value."""
    signature = etree.Element(f"{_DS}Signature", nsmap={"ds": DSIG_NS})
    signed_info = etree.SubElement(signature, f"{_DS}SignedInfo")
    etree.SubElement(
        signed_info, f"{_DS}CanonicalizationMethod", Algorithm=Canonicalization.EXCLUSIVE.value
    )
    etree.SubElement(signed_info, f"{_DS}SignatureMethod", Algorithm=method.value)
    reference = etree.SubElement(signed_info, f"{_DS}Reference", URI="")
    transforms = etree.SubElement(reference, f"{_DS}Transforms")
    etree.SubElement(transforms, f"{_DS}Transform", Algorithm=_ENVELOPED)
    etree.SubElement(transforms, f"{_DS}Transform", Algorithm=Canonicalization.EXCLUSIVE.value)
    etree.SubElement(reference, f"{_DS}DigestMethod", Algorithm=DigestAlgorithm.SHA256.value)
    etree.SubElement(reference, f"{_DS}DigestValue").text = _DIGEST_MARKER.decode("ascii")
    etree.SubElement(signature, f"{_DS}SignatureValue").text = _VALUE_MARKER.decode("ascii")
    x509_data = etree.SubElement(etree.SubElement(signature, f"{_DS}KeyInfo"), f"{_DS}X509Data")
    for certificate in certificates:
        etree.SubElement(x509_data, f"{_DS}X509Certificate").text = _pem_body(certificate)
    return (
        _split(_exclusive(signed_info), _DIGEST_MARKER),
        _split(_exclusive(signature), _DIGEST_MARKER, _VALUE_MARKER),
    )


@dataclass(frozen=True)
class ProfileSigner:
    """One signer's signature in the profile: its key, and the canonical templates
    of ``SignedInfo`` and of the whole ``Signature`` for its method and certificates."""

    key: PrivateKey = field(repr=False)
    method: SignatureAlgorithm
    signed_info: tuple[bytes, ...]
    signature: tuple[bytes, ...]

    @classmethod
    def make(
        cls,
        key: PrivateKey,
        method: SignatureAlgorithm,
        certificates: tuple[x509.Certificate, ...],
    ) -> ProfileSigner | None:
        """The profile signer for these credentials, or None when ``method`` (or the
        key's type) is outside the profile and signxml signs instead."""
        if method is SignatureAlgorithm.RSA_SHA256:
            if not isinstance(key, rsa.RSAPrivateKey):
                return None
        elif method is SignatureAlgorithm.ECDSA_SHA256:
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                return None
        else:
            return None
        signed_info, signature = _templates(method, certificates)
        return cls(key, method, signed_info, signature)

    def signed_info_for(self, digest_value: bytes) -> bytes:
        """Canonical ``SignedInfo`` with ``digest_value`` (base64) as the digest's text."""
        return self.signed_info[0] + digest_value + self.signed_info[1]

    def _value(self, signed_info: bytes) -> bytes:
        key = self.key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(signed_info, _PKCS1, _SHA256)
        # XML-DSig writes r || s, each as long as the curve's order (RFC 4050), not DER.
        r, s = decode_dss_signature(key.sign(signed_info, _ECDSA))
        width = (key.key_size + 7) // 8
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")

    def signature_for(self, canonical: bytes) -> bytes:
        """The canonical ``<ds:Signature>`` element over a package whose exclusive
        C14N (:func:`canonical_package`) is ``canonical``."""
        digest_value = base64.b64encode(hashlib.sha256(canonical).digest())
        value = base64.b64encode(self._value(self.signed_info_for(digest_value)))
        first, middle, last = self.signature
        return b"".join((first, digest_value, middle, value, last))
