"""Signing EDXML packages: an enveloped XML-DSig signature, spliced into the original bytes.

The signature is computed over the parsed package: for the form edxbus signs
(RSA-SHA256 or ECDSA-SHA256, ``signing._profile_sign``) with lxml and
``cryptography`` on the one parse; for another method a signer may be configured
with, by ``signxml`` with a placeholder where the signature goes. The canonical
``<ds:Signature>`` is then inserted into the ORIGINAL bytes right after
``</edXML:TraceHeaderList>`` (or at the end of ``edXMLHeader`` when a status
package has no trace list): the reference digest is over the canonical form
*with the signature removed*, so every other byte of the package stays exactly
as the sender wrote it, and the signature still verifies. The splice is checked
by reading the signed bytes again up to the signature's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner

from edxml import EdxmlError, Limits, MalformedXmlError, sender_code_of
from signing._profile_sign import ProfileSigner, canonical_package
from signing._xml import (
    DSIG_NS,
    EDXML_NS,
    find_header,
    find_path,
    find_signatures,
    internal_parser,
    parse_package,
)
from signing.certificates import (
    PrivateKey,
    agency_code_of,
    certificate_fingerprint,
    check_signing_usage,
    load_certificate_file,
    load_private_key,
)
from signing.errors import (
    AlreadySignedError,
    CredentialError,
    KeyMismatchError,
    MalformedSignatureError,
    SenderMismatchError,
    WeakAlgorithmError,
)
from signing.policy import Canonicalization, DigestAlgorithm, SignatureAlgorithm

__all__ = ["Signer", "sender_code_in"]

_TRACE_END = re.compile(rb"</(?:[A-Za-z_][\w.\-]*:)?TraceHeaderList\s*>")
_HEADER_END = re.compile(rb"</(?:[A-Za-z_][\w.\-]*:)?edXMLHeader\s*>")
_TRACE_TAG = f"{{{EDXML_NS}}}TraceHeaderList"
_ROOT_TAG = f"{{{EDXML_NS}}}edXML"
_ENVELOPE_TAG = f"{{{EDXML_NS}}}edXMLEnvelope"
_HEADER_TAG = f"{{{EDXML_NS}}}edXMLHeader"
_MAX_SPLICE_ATTEMPTS = 8
_DEFAULT_LIMITS = Limits()
#: Element depth of a signed package at least: edXML, edXMLEnvelope, edXMLHeader,
#: Signature, SignedInfo, Reference, Transforms, Transform.
_SIGNED_DEPTH = 8


def sender_code_in(root: etree._Element) -> str | None:
    """``MessageHeader/From/OrganId`` of a package root, stripped; None when absent."""
    try:
        return sender_code_of(root)
    except EdxmlError:
        return None


class _WholePackageSigner(XMLSigner):
    """signxml's signer, with the reference always ``URI=""`` (the whole package).

    signxml names the root by ``#Id`` when the root element carries an ``Id``
    attribute; an EDXML signature covers the document, and verifiers (ours
    included) expect ``URI=""``. ``_unpack`` is where signxml decides it.
    """

    def _unpack(self, data: Any, references: Any) -> Any:
        sig_root, doc_root, c14n_inputs, found = super()._unpack(data, references)
        return sig_root, doc_root, c14n_inputs, [replace(r, URI="") for r in found]

    @property
    def parser(self) -> Any:
        """signxml re-parses what it serialised: with the same hardened options as the
        verifier's, so an attachment over libxml2's 10 MB text-node cap (admitted by
        the caller's ``Limits``) does not stop it."""
        return internal_parser()


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CredentialError(f"cannot read {what} {path}: {error.strerror}") from None


def _default_algorithm(key: PrivateKey) -> SignatureAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return SignatureAlgorithm.ECDSA_SHA256
    return SignatureAlgorithm.RSA_SHA256


def _check_pair(key: PrivateKey, cert: x509.Certificate) -> None:
    own = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if own != theirs:
        raise KeyMismatchError("the private key does not belong to the certificate")


@dataclass(frozen=True)
class Signer:
    """An agency's signing credentials, loaded once: the key object, its certificate,
    and the intermediates to carry in ``KeyInfo``. Reuse one Signer for many packages:
    loading an RSA key (with its consistency check) costs tens of milliseconds."""

    key: PrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    algorithm: SignatureAlgorithm | None = None
    #: False: every signature through signxml, as every package was signed before
    #: (the differential tests and the benchmark compare the two).
    use_profile: bool = field(default=True, kw_only=True, repr=False, compare=False)
    _profile: ProfileSigner | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CredentialError("only RSA and EC keys can sign EDXML packages")
        _check_pair(self.key, self.certificate)
        check_signing_usage(self.certificate)
        agency_code_of(self.certificate)  # refuse a certificate that names no agency, early
        algorithm = self.algorithm or _default_algorithm(self.key)
        rsa_key = isinstance(self.key, rsa.RSAPrivateKey)
        if rsa_key != algorithm.short_name.startswith("rsa"):
            raise CredentialError(
                f"a {type(self.key).__name__} cannot sign with {algorithm.short_name}"
            )
        if algorithm.is_sha1:
            raise WeakAlgorithmError(f"{algorithm.short_name} (edxbus signs with SHA-256)")
        object.__setattr__(self, "algorithm", algorithm)
        profile = ProfileSigner.make(self.key, algorithm, (self.certificate, *self.chain))
        object.__setattr__(self, "_profile", profile)

    @classmethod
    def from_files(
        cls,
        key_path: Path | str,
        cert_path: Path | str,
        *,
        password: bytes | None = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signer:
        """Load a PEM key and a PEM certificate file (leaf first, intermediates after)."""
        certs = load_certificate_file(Path(cert_path))
        key = load_private_key(Path(key_path), password)
        return cls(key, certs[0], tuple(certs[1:]), algorithm)

    @classmethod
    def from_pkcs12(
        cls,
        path: Path | str,
        *,
        password: bytes | None = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signer:
        """Load a PKCS#12 bundle (``.p12``/``.pfx``: key, certificate, CA chain), the
        form CAs commonly hand agencies their signing credentials in."""
        data = _read_bytes(Path(path), "PKCS#12 bundle")
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except (ValueError, TypeError) as error:
            raise CredentialError(f"{path} cannot be opened as PKCS#12: {error}") from None
        if key is None or cert is None:
            raise CredentialError(f"{path} holds no private key and certificate")
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CredentialError(f"{path}: only RSA and EC keys can sign EDXML packages")
        # A root in the bundle is the verifier's trust anchor, not something to carry.
        chain = tuple(c for c in extra if c.subject != c.issuer)
        return cls(key, cert, chain, algorithm)

    @property
    def agency_code(self) -> str:
        """The agency the certificate speaks for (its subject ``UID``)."""
        return agency_code_of(self.certificate)

    @property
    def fingerprint(self) -> str:
        """SHA-256 hex of the certificate's DER encoding."""
        return certificate_fingerprint(self.certificate)

    @property
    def signature_algorithm(self) -> SignatureAlgorithm:
        assert self.algorithm is not None  # set in __post_init__
        return self.algorithm

    def sign(
        self, data: bytes, *, check_sender: bool = False, limits: Limits | None = None
    ) -> bytes:
        """The package with an enveloped signature added; no other byte changes.

        ``check_sender`` refuses a package whose ``From/OrganId`` is not this
        certificate's agency (what every verifier will refuse anyway). ``limits``
        are those of the hardened parse (``edxml.Limits``, safe defaults).
        """
        root = parse_package(data, limits)
        header = find_header(root)
        namespaced, other = find_signatures(root)
        if namespaced or other:
            raise AlreadySignedError()
        if check_sender:
            sender = sender_code_in(root)
            if sender != self.agency_code:
                raise SenderMismatchError(sender or "", self.agency_code)
        trace = header.find(_TRACE_TAG)
        place = _Place.of(header, trace)  # before signxml adds its signature to the tree
        profile = self._profile if self.use_profile else None
        try:
            if profile is not None:
                signature_bytes = profile.signature_for(canonical_package(root))
            else:
                signature_bytes = self._signxml_signature(root, header, trace)
        except etree.C14NError as error:  # a relative namespace URI, for one
            raise MalformedXmlError(f"the package cannot be canonicalised: {error}") from None
        return _splice(data, signature_bytes, place, limits)

    def _signxml_signature(
        self, root: etree._Element, header: etree._Element, trace: etree._Element | None
    ) -> bytes:
        """The canonical signature element, made by signxml over ``root`` (changed)."""
        placeholder = etree.Element(f"{{{DSIG_NS}}}Signature", nsmap={"ds": DSIG_NS})
        placeholder.set("Id", "placeholder")
        if trace is not None:
            trace.addnext(placeholder)
        else:
            header.append(placeholder)
        # A fresh XMLSigner per call (cheap): signxml keeps a parser on it, and lxml
        # parsers must not be shared between threads.
        xml_signer = _WholePackageSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=self.signature_algorithm.value,
            digest_algorithm=DigestAlgorithm.SHA256.value,
            c14n_algorithm=Canonicalization.EXCLUSIVE.value,
        )
        try:
            signed_root = xml_signer.sign(root, key=self.key, cert=[self.certificate, *self.chain])
        except SignXMLException as error:
            raise CredentialError(f"cannot sign: {error}") from None
        signature = next(signed_root.iter(f"{{{DSIG_NS}}}Signature"))
        # Exclusive C14N serialises the signature with only the namespace it uses
        # (ds): a plain tostring would copy the package's in-scope declarations onto
        # it, bytes no digest covers.
        signature_bytes: bytes = etree.tostring(
            signature, method="c14n", exclusive=True, with_tail=False
        )
        return signature_bytes


@dataclass(frozen=True)
class _Place:
    """Where the signature goes, as the package's own parse says: the element child
    of edXMLHeader it becomes (``index``: right after TraceHeaderList, else after
    the header's last element), and the end tags that close the header, the
    envelope and the root as the package spells them."""

    after_trace: bool
    index: int
    closers: bytes

    @classmethod
    def of(cls, header: etree._Element, trace: etree._Element | None) -> _Place:
        elements = [c for c in header if isinstance(c.tag, str)]
        index = len(elements) if trace is None else elements.index(trace) + 1
        ancestors = (header, *header.iterancestors())
        closers = "".join(f"</{_qualified_name(e)}>" for e in ancestors).encode("utf-8")
        return cls(trace is not None, index, closers)


def _qualified_name(element: etree._Element) -> str:
    """The element's name as its tags spell it: ``prefix:local``, or ``local``."""
    local = str(element.tag).rpartition("}")[2]
    return local if element.prefix is None else f"{element.prefix}:{local}"


def _splice(data: bytes, signature: bytes, place: _Place, limits: Limits | None) -> bytes:
    """Insert the signature after ``</…TraceHeaderList>`` (or before ``</…edXMLHeader>``)."""
    # The first match is the header's own end tag unless a comment or CDATA section
    # before it spells one: read each candidate again and keep the first that lands
    # where the package's parse says the signature goes.
    pattern = _TRACE_END if place.after_trace else _HEADER_END
    for attempt, match in enumerate(pattern.finditer(data)):
        if attempt >= _MAX_SPLICE_ATTEMPTS:
            break
        offset = match.end() if place.after_trace else match.start()
        signed = b"".join((data[:offset], signature, data[offset:]))
        if _lands_in_place(signed, offset + len(signature), place, limits):
            return signed
    raise MalformedSignatureError(
        "cannot place the signature: the header's end tag was not found in the bytes"
    )


def _lands_in_place(signed: bytes, end: int, place: _Place, limits: Limits | None) -> bool:
    """The one signature is the ``place.index``-th element of edXMLHeader.

    ``end``: where the inserted signature ends in ``signed``. What is read again
    is the bytes up to there, closed by the end tags of the header, the envelope
    and the root: up to the signature they are the package's own, so when they
    read as XML with the signature where it goes, the parser stood in the
    header's content at that point (the three end tags close exactly the header,
    the envelope and the root), the signature (balanced, its namespace declared on
    itself) leaves it standing there, and every later byte of ``signed`` reads as
    it did in the package, which held no signature: the whole would read the same.
    When the signed bytes may break a limit of the hardened parse (their size; a
    depth limit under the signature's own) or that short read fails, the whole
    package is parsed again, with the parse's named refusal.
    """
    limits = limits or _DEFAULT_LIMITS
    if len(signed) <= limits.max_package_bytes and limits.max_depth >= _SIGNED_DEPTH:
        try:
            head = parse_package(b"".join((signed[:end], place.closers)), limits)
        except EdxmlError:
            head = None
        landed = None if head is None else _in_place(head, place.index)
        if landed is not None:
            return landed
    return _in_place(parse_package(signed, limits), place.index) is True


def _in_place(root: etree._Element, index: int) -> bool | None:
    """The tree holds one XML-DSig signature, the ``index``-th element of the header;
    None when it holds no edXMLEnvelope/edXMLHeader (the short read of a package
    whose header comes later)."""
    header = find_path(root, _ENVELOPE_TAG, _HEADER_TAG) if root.tag == _ROOT_TAG else None
    if header is None:
        return None
    elements = [c for c in header if isinstance(c.tag, str)]
    namespaced, _ = find_signatures(root)
    return len(namespaced) == 1 and index < len(elements) and elements[index] is namespaced[0]
