"""The signature profile edxbus signs, verified with lxml and ``cryptography`` alone.

Every package edxbus signs carries the same signature form: one reference with
``URI=""`` (the whole package), the enveloped-signature transform then exclusive
C14N, a SHA-256 digest, an RSA-SHA256 or ECDSA-SHA256 signature value, the signer
certificate in ``KeyInfo/X509Data``, exclusive C14N of ``SignedInfo``. For that one
form the work is exactly its primitives, done once on the tree the hardened parse
already built: canonicalise ``SignedInfo``, check the signature value with the
certificate's key, remove the signature (keeping its tail text, as the transform
says), canonicalise the package, compare the SHA-256.

:func:`in_profile` answers, before any cryptography, whether a signature has that
form; anything else (inclusive C14N from field software, SHA-1 where a policy
allows it, ``InclusiveNamespaces``, a ``KeyValue`` beside the certificate, comments
or processing instructions inside the signature) is not this module's to judge and
goes through the general signxml path in :mod:`signing.verifier`, with the same
refusals as before. The checks mirror signxml's, in its order (schema of the
signature, signature value, digest), so either path names the same reason; the
differential tests in ``tests/signing/test_differential.py`` hold them to it, and
to xmlsec1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree
from signxml.processor import XMLSignatureProcessor

from signing._xml import DSIG_NS, find_path
from signing.errors import (
    DigestMismatchError,
    MalformedSignatureError,
    SignatureValueError,
)
from signing.policy import Canonicalization, DigestAlgorithm, SignatureAlgorithm

__all__ = [
    "ProfileResult",
    "ShapeMemo",
    "SignatureParts",
    "in_profile",
    "shape_and_values",
    "signature_parts",
    "signature_shape",
    "signed_info_from",
    "verify_in_profile",
]

_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_DS = f"{{{DSIG_NS}}}"
_EXC_NS = "{http://www.w3.org/2001/10/xml-exc-c14n#}"
#: KeyInfo children signxml would also consult; their presence leaves the profile.
_KEY_VALUES = frozenset({f"{_DS}KeyValue", "{http://www.w3.org/2009/xmldsig11#}DEREncodedKeyValue"})
_OUTSIDE = (etree.Comment, etree.ProcessingInstruction, f"{_EXC_NS}*", *_KEY_VALUES)
_METHODS = frozenset({SignatureAlgorithm.RSA_SHA256, SignatureAlgorithm.ECDSA_SHA256})
_SCHEMA_LOCK = threading.Lock()
_SIGNED_INFO, _SIGNATURE_VALUE, _REFERENCE, _DIGEST_VALUE = (
    f"{_DS}SignedInfo",
    f"{_DS}SignatureValue",
    f"{_DS}Reference",
    f"{_DS}DigestValue",
)


_MAX_SHAPES = 1024
_MAX_PUBLIC_KEYS = 2048


@dataclass(frozen=True)
class SignatureParts:
    """The three elements the profile reads, found once per package."""

    signed_info: etree._Element
    value: etree._Element
    digest: etree._Element


def signature_parts(signature: etree._Element) -> SignatureParts | None:
    """``SignedInfo``, ``SignatureValue`` and the reference's ``DigestValue`` (the first
    of each where XML-DSig puts them), or None when one is missing."""
    signed_info = find_path(signature, _SIGNED_INFO)
    value = find_path(signature, _SIGNATURE_VALUE)
    if signed_info is None or value is None:
        return None
    digest = find_path(signed_info, _REFERENCE, _DIGEST_VALUE)
    return None if digest is None else SignatureParts(signed_info, value, digest)


def signature_shape(signature: etree._Element, parts: SignatureParts) -> bytes:
    """The signature's serialisation (comments and processing instructions kept) with
    the texts of its digest and signature values left out: equal for every package
    one signer signs the same way.

    Two signatures with the same shape are the same tree apart from those two
    texts, so what :func:`in_profile`, ``read_signature_form`` and the XML-DSig
    schema concluded about one holds for the other once the two texts are read
    again (strict base64). The texts are set aside in the tree for the
    serialisation and put back.
    """
    return shape_and_values(signature, parts)[0]


def shape_and_values(
    signature: etree._Element, parts: SignatureParts
) -> tuple[bytes, str | None, str | None]:
    """:func:`signature_shape`, and the two texts it left out (signature value, digest
    value) as they stand, read once for both."""
    value, digest = parts.value, parts.digest
    value_text, digest_text = value.text, digest.text
    value.text = digest.text = None
    try:
        return etree.tostring(signature, with_tail=False), value_text, digest_text
    finally:
        value.text, digest.text = value_text, digest_text


class ShapeMemo:
    """Signature shapes already read and found in the profile (schema included), with
    what was read from them; failures are never remembered."""

    def __init__(self) -> None:
        self._known: dict[bytes, object] = {}
        self._lock = threading.Lock()

    def get(self, shape: bytes) -> object | None:
        return self._known.get(shape) if shape else None

    def remember(self, shape: bytes, form: object) -> None:
        if not shape:
            return
        with self._lock:
            if len(self._known) >= _MAX_SHAPES:
                self._known.clear()
            self._known[shape] = form


@dataclass(frozen=True)
class ProfileResult:
    """What the digest covers: its canonical bytes, and the same tree without the
    signature and without comments (the infoset of those bytes).

    ``signed_info_template``: on a first reading (not ``known_shape``), the canonical
    ``SignedInfo`` split around its digest value (see :func:`signed_info_from`), or
    None when it could not be split."""

    signed_bytes: bytes
    signed_root: etree._Element
    signed_info_template: tuple[bytes, bytes] | None = None


#: Stands in for the digest value while the template is made: no base64 text holds "-".
_MARKER = "-edxbus-digest-value-"


def _signed_info_template(parts: SignatureParts) -> tuple[bytes, bytes] | None:
    """Canonical ``SignedInfo`` before and after the digest value's text.

    Every signature of one shape (:func:`signature_shape`: the same serialisation,
    in-scope namespaces included, but for the two values) has the same canonical
    ``SignedInfo`` but for that text, so a later package of the shape only needs
    its own text put in between (:func:`signed_info_from`)."""
    digest = parts.digest
    text = digest.text
    digest.text = _MARKER
    try:
        canonical = _canonical(parts.signed_info)
    finally:
        digest.text = text
    before, found, after = canonical.partition(_MARKER.encode("ascii"))
    if not found or _MARKER.encode("ascii") in after:
        return None
    return before, after


def signed_info_from(template: tuple[bytes, bytes], digest_text: str) -> bytes:
    """The canonical ``SignedInfo`` of a signature of the template's shape whose digest
    value text is ``digest_text``: canonical base64 with no whitespace (C14N writes
    such a text as it is)."""
    return template[0] + digest_text.encode("ascii") + template[1]


def in_profile(
    signature: etree._Element,
    method: SignatureAlgorithm,
    digest: DigestAlgorithm,
    c14n: Canonicalization,
) -> bool:
    """True when ``signature`` has exactly the form edxbus signs (no crypto done)."""
    if c14n is not Canonicalization.EXCLUSIVE or method not in _METHODS:
        return False
    if digest is not DigestAlgorithm.SHA256:
        return False
    transforms = signature.findall(f"{_DS}SignedInfo/{_DS}Reference/{_DS}Transforms/{_DS}Transform")
    algorithms = [t.get("Algorithm") for t in transforms]
    if algorithms != [_ENVELOPED, Canonicalization.EXCLUSIVE.value]:
        return False
    # A comment, a processing instruction, InclusiveNamespaces or a KeyValue: out.
    return next(signature.iter(*_OUTSIDE), None) is None


def _check_schema(signature: etree._Element) -> None:
    """The XML-DSig schema signxml checks every signature against, same refusal."""
    last: etree.DocumentInvalid | None = None
    with _SCHEMA_LOCK:  # a schema object keeps its error log: one validation at a time
        for schema in XMLSignatureProcessor.schemas():  # type: ignore[no-untyped-call]
            try:
                schema.assertValid(signature)
                return
            except etree.DocumentInvalid as error:
                last = error
    raise MalformedSignatureError(f"signature cannot be read: {last}")


#: Stateless parameter objects, made once.
_PKCS1, _SHA256 = padding.PKCS1v15(), hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)


_PUBLIC_KEYS: dict[int, tuple[x509.Certificate, CertificatePublicKeyTypes]] = {}
_PUBLIC_KEYS_LOCK = threading.Lock()


def _public_key(cert: x509.Certificate) -> CertificatePublicKeyTypes:
    """Loaded once per certificate: an agency signs many packages with one key.

    Keyed by the certificate's identity, like the certificate memo (a verifier
    loads each distinct certificate once, so one signer's packages present the
    same object): hashing a certificate costs about as much as reading a package's
    signature parts. An entry keeps its certificate alive, so an identity in the
    table is never another object's."""
    entry = _PUBLIC_KEYS.get(id(cert))
    if entry is not None and entry[0] is cert:
        return entry[1]
    key = cert.public_key()
    with _PUBLIC_KEYS_LOCK:
        if len(_PUBLIC_KEYS) >= _MAX_PUBLIC_KEYS:
            _PUBLIC_KEYS.clear()
        _PUBLIC_KEYS[id(cert)] = (cert, key)
    return key


def _check_value(
    signed_info: bytes, value: bytes, method: SignatureAlgorithm, cert: x509.Certificate
) -> None:
    key = _public_key(cert)
    try:
        if method is SignatureAlgorithm.RSA_SHA256:
            if not isinstance(key, rsa.RSAPublicKey):
                raise MalformedSignatureError(
                    "signature cannot be read: the certificate's key does not match "
                    "the signature method rsa-sha256"
                )
            key.verify(value, signed_info, _PKCS1, _SHA256)
            return
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise MalformedSignatureError(
                "signature cannot be read: the certificate's key does not match "
                "the signature method ecdsa-sha256"
            )
        # XML-DSig writes r || s, each as long as the curve's order (RFC 4050).
        width = (key.key_size + 7) // 8
        if len(value) != 2 * width:
            raise MalformedSignatureError(
                f"signature refused: Expected {2 * width} byte SignatureValue, got {len(value)}"
            )
        r = int.from_bytes(value[:width], "big")
        s = int.from_bytes(value[width:], "big")
        key.verify(encode_dss_signature(r, s), signed_info, _ECDSA)
    except InvalidSignature:
        raise SignatureValueError() from None


def _canonical(element: etree._Element) -> bytes:
    """Exclusive C14N without comments (lxml's own default keeps them)."""
    try:
        return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
    except etree.C14NError as error:  # a relative namespace URI, for one
        raise MalformedSignatureError(f"signature cannot be read: {error}") from None


def remove_enveloped(signature: etree._Element) -> None:
    """The enveloped-signature transform: the element goes, its tail text stays."""
    parent = signature.getparent()
    if parent is None:
        raise MalformedSignatureError("the signature is the document root")
    tail = signature.tail
    if tail:
        previous = signature.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + tail
        else:
            previous.tail = (previous.tail or "") + tail
    parent.remove(signature)


def verify_in_profile(
    root: etree._Element,
    signature: etree._Element,
    method: SignatureAlgorithm,
    cert: x509.Certificate,
    parts: SignatureParts,
    *,
    known_shape: bool = False,
    values: tuple[bytes, bytes] | None = None,
    signed_info: bytes | None = None,
) -> ProfileResult:
    """Check a signature :func:`in_profile` accepted, on the tree it sits in.

    The tree is changed: the signature is removed (and comments stripped) so that
    what is returned is exactly what the digest covers. Raise the named refusal.
    ``known_shape``: the signature's shape already passed the schema. ``values``:
    the signature value and digest value, when the caller has decoded them already.
    ``signed_info``: the canonical ``SignedInfo``, when the caller made it from the
    shape's template (:func:`signed_info_from`).
    """
    template = None
    if not known_shape:
        _check_schema(signature)
    # Both texts were read as strict base64 already (the form, or the known shape).
    if values is None:
        value = base64.b64decode("".join((parts.value.text or "").split()))
        expected = base64.b64decode("".join((parts.digest.text or "").split()))
    else:
        value, expected = values
    canonical_info = _canonical(parts.signed_info) if signed_info is None else signed_info
    _check_value(canonical_info, value, method, cert)
    if not known_shape:
        template = _signed_info_template(parts)  # while the signature is in the tree
    remove_enveloped(signature)
    signed_bytes = _canonical(root)
    if not hmac.compare_digest(hashlib.sha256(signed_bytes).digest(), expected):
        raise DigestMismatchError()
    if next(root.iter(etree.Comment), None) is not None:
        etree.strip_tags(root, etree.Comment)
    return ProfileResult(signed_bytes, root, template)
