"""Verifying a signed EDXML package, and what the verification proves.

The order of the checks is the order of the questions an auditor asks: is there
one signature, where it belongs, in a form we accept (algorithms, one whole-package
reference: no room for signature wrapping)? Does its certificate chain to our
roots, valid then and not revoked, allowed to sign, naming an agency? Do the
signature value and the digest hold (for the form edxbus signs, ``signing._profile``
answers with lxml and ``cryptography`` on the tree already parsed; for any other
accepted form, ``signxml``)? Is the sender the agency the certificate names? Only
then is a :class:`VerifiedPackage` returned, and it holds *only what the signature
covers*: callers parse ``signed_bytes`` (or take :meth:`Verifier.read`'s package),
never the bytes they were handed.

What does not change from one package to the next is remembered per verifier:
the certificate checks per (certificate, CRL) in ``signing._vetting``, and per
signature shape what the form reading and the schema concluded.
"""

from __future__ import annotations

import base64
import binascii
import functools
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from lxml import etree
from signxml.algorithms import CanonicalizationMethod as SxCanonicalizationMethod
from signxml.algorithms import DigestAlgorithm as SxDigestAlgorithm
from signxml.algorithms import SignatureMethod as SxSignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.verifier import SignatureConfiguration, XMLVerifier

from edxml import Limits, Mode, Package, PackageTooLargeError, ParseResult, parse, parse_tree
from signing._profile import (
    ShapeMemo,
    in_profile,
    shape_and_values,
    signature_parts,
    signed_info_from,
    verify_in_profile,
)
from signing._vetting import CertificateVetting
from signing._xml import (
    DSIG_NS,
    EDXML_NS,
    find_header,
    find_path,
    find_signatures,
    internal_parser,
    parse_package,
)
from signing.certificates import describe
from signing.errors import (
    DigestMismatchError,
    MalformedSignatureError,
    NoSignatureError,
    SenderMismatchError,
    SignatureValueError,
    SignatureWrappingError,
    UnnamespacedSignatureError,
    UnsignedContentError,
    UnsupportedAlgorithmError,
    UntrustedCertificateError,
    WeakAlgorithmError,
)
from signing.policy import (
    Canonicalization,
    DigestAlgorithm,
    SignatureAlgorithm,
    VerificationPolicy,
)
from signing.trust import TrustStore

__all__ = ["ReadPackage", "SignatureForm", "VerifiedPackage", "Verifier", "read_signature_form"]

_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#: Written by a field SDK (samples/vxp-sdk); no verifier knows it, so it never verifies.
_FIELD_EXC_C14N_TYPO = "http://www.w3.org/TR/xml-exc-c14n#"
_DSIG = f"{{{DSIG_NS}}}"
#: A signer certificate and its CA chain; more is padding meant to slow the chain search.
_MAX_KEYINFO_CERTIFICATES = 8
#: Limits are immutable: the defaults are made once.
_DEFAULT_LIMITS = Limits()
_SIGNATURE_LOCATION = f"./{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader/"


@dataclass(frozen=True)
class SignatureForm:
    """What a signature says about itself, read before anything is trusted."""

    signature_algorithm: SignatureAlgorithm
    digest_algorithm: DigestAlgorithm
    c14n: Canonicalization
    certificates: tuple[x509.Certificate, ...]

    @property
    def signer_certificate(self) -> x509.Certificate:
        """The end-entity certificate among those KeyInfo carries: XML-DSig implies no
        order, so the first one that is not a CA (the first one if all are)."""
        return next((c for c in self.certificates if not _is_ca(c)), self.certificates[0])

    @functools.cached_property
    def leaves(self) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
        """``(signer_certificate, other_certificates)``, worked out once."""
        return self.signer_certificate, self.other_certificates

    @property
    def other_certificates(self) -> tuple[x509.Certificate, ...]:
        """The rest: intermediates that may help build the chain (never trusted as such)."""
        leaf = self.signer_certificate
        return tuple(c for c in self.certificates if c is not leaf)


@dataclass(frozen=True)
class _KnownShape:
    """What a signature shape's first reading concluded: its form, and its canonical
    ``SignedInfo`` around the digest value (``signing._profile``)."""

    form: SignatureForm
    signed_info_template: tuple[bytes, bytes] | None


@functools.lru_cache(maxsize=2048)
def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True)
class ReadPackage:
    """A verified package and what ``edxml`` read of its signed content.

    ``package.sender_code`` is ``verified.agency_code``: the sender is the signer.
    """

    verified: VerifiedPackage
    parsed: ParseResult

    @property
    def package(self) -> Package:
        """The model of the signed content."""
        return self.parsed.package


@dataclass(frozen=True)
class VerifiedPackage:
    """A package whose signature holds. Act only on ``signed_bytes`` / ``signed_root``.

    ``signed_bytes`` is the canonical form the digest covers (signature removed, no XML
    declaration, UTF-8), exactly as the verifier saw it.
    """

    signed_bytes: bytes
    signed_root: etree._Element
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    agency_code: str
    fingerprint: str
    signature_algorithm: SignatureAlgorithm
    digest_algorithm: DigestAlgorithm
    c14n: Canonicalization
    sender_code: str | None
    verified_at: datetime

    @property
    def signer_name(self) -> str:
        """The certificate subject's common name (or whole subject), for people."""
        return describe(self.certificate).strip("'\"")


def _algorithm(element: etree._Element | None, what: str) -> str:
    if element is None or not element.get("Algorithm"):
        raise MalformedSignatureError(f"the signature names no {what}")
    return element.get("Algorithm", "")


def read_signature_form(signature: etree._Element) -> SignatureForm:
    """Read algorithms, the reference and the certificates of a ``ds:Signature``;
    refuse any form that could sign less than the whole package."""
    signed_infos = signature.findall(f"{_DSIG}SignedInfo")
    if len(signed_infos) != 1:
        raise MalformedSignatureError("the signature must hold exactly one SignedInfo")
    signed_info = signed_infos[0]
    c14n_uri = _algorithm(signed_info.find(f"{_DSIG}CanonicalizationMethod"), "canonicalization")
    method_uri = _algorithm(signed_info.find(f"{_DSIG}SignatureMethod"), "signature method")
    try:
        c14n = Canonicalization(c14n_uri)
    except ValueError:
        raise UnsupportedAlgorithmError("canonicalization", c14n_uri) from None
    try:
        method = SignatureAlgorithm(method_uri)
    except ValueError:
        raise UnsupportedAlgorithmError("signature method", method_uri) from None
    references = signed_info.findall(f"{_DSIG}Reference")
    if len(references) != 1:
        raise SignatureWrappingError(
            f"the signature holds {len(references)} references; an EDXML signature holds "
            "exactly one, over the whole package"
        )
    reference = references[0]
    if reference.get("URI") != "":
        raise SignatureWrappingError(
            f'the signature covers {reference.get("URI")!r}, not the whole package (URI="")'
        )
    transforms = [
        _algorithm(t, "transform") for t in reference.findall(f"{_DSIG}Transforms/{_DSIG}Transform")
    ]
    if not transforms or transforms[0] != _ENVELOPED:
        raise SignatureWrappingError("the reference lacks the enveloped-signature transform")
    for uri in transforms[1:]:
        try:
            Canonicalization(uri)
        except ValueError:
            if uri == _FIELD_EXC_C14N_TYPO:
                raise UnsupportedAlgorithmError(
                    "transform",
                    f"{uri} (a field SDK's misspelling of {Canonicalization.EXCLUSIVE})",
                ) from None
            raise UnsupportedAlgorithmError("transform", uri) from None
    if len(transforms) > 2:
        raise UnsupportedAlgorithmError("transform chain", " ".join(transforms))
    digest_uri = _algorithm(reference.find(f"{_DSIG}DigestMethod"), "digest method")
    try:
        digest = DigestAlgorithm(digest_uri)
    except ValueError:
        raise UnsupportedAlgorithmError("digest method", digest_uri) from None
    for name, element in (
        ("SignatureValue", signature.find(f"{_DSIG}SignatureValue")),
        ("DigestValue", reference.find(f"{_DSIG}DigestValue")),
    ):
        if element is None:
            raise MalformedSignatureError(f"the signature has no {name}")
        _strict_base64(element, name)
    elements = signature.findall(f"{_DSIG}KeyInfo/{_DSIG}X509Data/{_DSIG}X509Certificate")
    if len(elements) > _MAX_KEYINFO_CERTIFICATES:
        raise MalformedSignatureError(
            f"KeyInfo carries {len(elements)} certificates, more than the "
            f"{_MAX_KEYINFO_CERTIFICATES} a signer and its CA chain need"
        )
    certificates = [_certificate(element) for element in elements]
    if not certificates:
        raise MalformedSignatureError("the signature carries no certificate (KeyInfo/X509Data)")
    return SignatureForm(method, digest, c14n, tuple(certificates))


def _strict_base64(element: etree._Element, what: str) -> bytes:
    """Decode base64 that must be canonical: stray padding bits would be bytes that
    change without changing what is verified."""
    return _strict_base64_text(element.text or "", what)


def _strict_base64_text(text: str, what: str) -> bytes:
    text = "".join(text.split())
    try:
        # One C pass: what strict mode accepts, ``b64decode(validate=True)`` accepts and
        # reads the same; anything else gets that function's own verdict.
        value = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        try:
            value = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedSignatureError(f"{what} is not valid base64") from None
    if base64.b64encode(value).decode("ascii") != text:
        raise UnsignedContentError(f"{what} is not canonical base64")
    return value


def _plain_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


#: catch_warnings swaps process-wide filters: verifiers in several threads take turns.
_WARNINGS_LOCK = threading.Lock()


def _certificate(element: etree._Element) -> x509.Certificate:
    return _certificate_from_text(element.text or "")


@functools.lru_cache(maxsize=2048)
def _certificate_from_text(text: str) -> x509.Certificate:
    """The same base64 text is the same certificate: decode and check it once."""
    return _load_certificate(_strict_base64_text(text, "X509Certificate"))


@functools.lru_cache(maxsize=2048)
def _load_certificate(der: bytes) -> x509.Certificate:
    """Parse (once per distinct certificate: agencies sign many packages) and check it."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        # cryptography warns (and will refuse) on RFC 5280 violations such as a
        # negative serial number: a certificate like that is unreadable here.
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        try:
            cert = x509.load_der_x509_certificate(der)
            # cryptography parses some fields lazily: read them all now, so a damaged
            # certificate is refused here and not halfway through the chain check.
            _ = (cert.subject, cert.issuer, cert.public_key(), cert.not_valid_after_utc)
            _ = (cert.not_valid_before_utc, list(cert.extensions), cert.signature_hash_algorithm)
            return cert
        except (
            ValueError,
            TypeError,
            UnsupportedAlgorithm,
            CryptographyDeprecationWarning,
        ) as error:
            raise MalformedSignatureError(
                f"an X509Certificate in KeyInfo cannot be read: {error}"
            ) from None


@functools.lru_cache(maxsize=2048)
def _rsa_bits(cert: x509.Certificate) -> int | None:
    key = cert.public_key()
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


_E = f"{{{EDXML_NS}}}"
_SENDER_PATH = (
    f"{_E}edXMLEnvelope",
    f"{_E}edXMLHeader",
    f"{_E}MessageHeader",
    f"{_E}From",
    f"{_E}OrganId",
)


def _sender_of(root: etree._Element, header: etree._Element | None = None) -> str | None:
    """``From/OrganId`` of the signed root, stripped; None when absent or empty (the
    same answer as ``signing.signer.sender_code_in``, without climbing to the root).

    ``header``: the root's first ``edXMLEnvelope/edXMLHeader`` (``find_header``), where
    the search of the whole path would look first."""
    organ = None if header is None else find_path(header, *_SENDER_PATH[2:])
    if organ is None:
        organ = find_path(root, *_SENDER_PATH)
    code = "" if organ is None else (organ.text or "").strip()
    return code or None


def _when(at: datetime | None) -> datetime:
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("verification time must be timezone-aware")
    return when


def _refuse_unsigned_content(root: etree._Element) -> None:
    """XML-DSig covers the document's infoset: refuse what lies beside it and matters."""
    version = root.getroottree().docinfo.xml_version
    if version not in (None, "", "1.0"):
        raise UnsignedContentError(f"XML version {version} (EDXML packages are XML 1.0)")
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise UnsignedContentError("a processing instruction sits outside the package root")


class Verifier:
    """Verifies packages against one trust store under one policy. Thread-safe, reusable."""

    def __init__(
        self,
        trust: TrustStore,
        policy: VerificationPolicy | None = None,
        *,
        limits: Limits | None = None,
    ) -> None:
        self.trust = trust
        self.policy = policy or VerificationPolicy()
        #: Size and depth limits of the hardened parse (``edxml.Limits``, safe defaults).
        self.limits = limits
        #: Check edxbus's own signature form with lxml and ``cryptography`` directly
        #: (``signing._profile``); off, every signature goes through signxml. The
        #: differential tests turn it off to compare the two.
        self.use_profile = True

    @classmethod
    def from_directory(
        cls,
        path: Path | str,
        crl_paths: tuple[Path | str, ...] | list[Path | str] = (),
        policy: VerificationPolicy | None = None,
        *,
        limits: Limits | None = None,
    ) -> Verifier:
        """A verifier over the certificates of a directory (or file) and the CRLs named."""
        return cls(TrustStore.from_directory(path, crl_paths), policy, limits=limits)

    @property
    def _shapes(self) -> ShapeMemo:
        """Signature shapes this verifier has read (see ``signing._profile``); they hold
        for one policy (strength), so they go with the certificate memo."""
        self._vetting  # noqa: B018 - rebuilds both memos when trust or policy changed
        shapes: ShapeMemo = self.__dict__["_shape_memo"]
        return shapes

    @property
    def _vetting(self) -> CertificateVetting:
        """The certificate memo of the current trust store and policy (rebuilt if either
        attribute is replaced: the memo is only true of the store it was built on)."""
        vetting = self.__dict__.get("_vetting_memo")
        if vetting is None or vetting.trust is not self.trust or vetting.policy is not self.policy:
            vetting = CertificateVetting(self.trust, self.policy)
            self.__dict__["_vetting_memo"] = vetting
            self.__dict__["_shape_memo"] = ShapeMemo()
        return vetting

    def verify(self, data: bytes, *, at: datetime | None = None) -> VerifiedPackage:
        """Verify ``data`` at ``at`` (now by default); raise the first failure's named error."""
        when = _when(at)
        return self._verify(parse_package(data, self.limits), when)[0]

    def read(
        self,
        data: bytes,
        *,
        mode: Mode = Mode.STRICT,
        agency_pattern: str | None = None,
        at: datetime | None = None,
    ) -> ReadPackage:
        """Verify ``data`` and read what its signature covers, in one pass over one tree.

        The read path of a router or an inbox: the signature checked, the signed
        content parsed by ``edxml`` (``mode``, this verifier's ``limits``, the
        ``agency_pattern`` of the package rules), and the package's sender
        (``From/OrganId``) bound to the agency its certificate names. Raise the first
        failure's named error (an ``edxml.EdxbusError``: parse refusals and signing
        refusals alike). Same result as ``verify`` followed by
        ``edxml.parse(verified.signed_bytes, ...)`` and the sender comparison, at the
        cost of one parse instead of three.
        """
        when = _when(at)
        limits = self.limits or _DEFAULT_LIMITS
        verified, tree = self._verify(parse_package(data, self.limits), when)
        if len(verified.signed_bytes) > limits.max_package_bytes:
            raise PackageTooLargeError(limits.max_package_bytes, len(verified.signed_bytes))
        if tree:
            parsed = parse_tree(
                verified.signed_root, mode=mode, limits=limits, agency_pattern=agency_pattern
            )
        else:  # the general path's tree came from signxml's own parser: read the bytes
            parsed = parse(
                verified.signed_bytes, mode=mode, limits=limits, agency_pattern=agency_pattern
            )
        package = parsed.package
        if package.sender_code != verified.agency_code:
            raise SenderMismatchError(package.sender_code, verified.agency_code)
        return ReadPackage(verified, parsed)

    def verify_tree(self, root: etree._Element, *, at: datetime | None = None) -> VerifiedPackage:
        """Verify a package already read by the hardened parse (``signing`` and ``edxml``
        read with the same one); the tree is consumed: the signature is taken out of
        it, and ``signed_root`` is what remains, exactly what the digest covers."""
        return self._verify(root, _when(at))[0]

    def _verify(self, root: etree._Element, when: datetime) -> tuple[VerifiedPackage, bool]:
        """The verification, and whether ``signed_root`` is the hardened parse's tree."""
        header = find_header(root)
        namespaced, other = find_signatures(root)
        _refuse_unsigned_content(root)
        if not namespaced:
            if other:
                raise UnnamespacedSignatureError()
            raise NoSignatureError()
        if len(namespaced) > 1:
            raise SignatureWrappingError(
                f"the package carries {len(namespaced)} signatures; exactly one is allowed"
            )
        signature = namespaced[0]
        if signature.getparent() is not header:
            raise SignatureWrappingError("the signature does not sit in edXMLHeader")
        parts = signature_parts(signature) if self.use_profile else None
        shape, value_text, digest_text = (
            (b"", None, None) if parts is None else shape_and_values(signature, parts)
        )
        known = self._shapes.get(shape)
        values: tuple[bytes, bytes] | None = None
        signed_info: bytes | None = None
        if isinstance(known, _KnownShape) and parts is not None:
            # The same signature as one already read but for its two values: read those.
            form = known.form
            values = (
                _strict_base64_text(value_text or "", "SignatureValue"),
                _strict_base64_text(digest_text or "", "DigestValue"),
            )
            template = known.signed_info_template
            if template is not None and digest_text == _plain_base64(values[1]):
                signed_info = signed_info_from(template, digest_text)
        else:
            known = None
            form = read_signature_form(signature)
            self._check_strength(form)
        leaf, presented = form.leaves
        vetted = self._vetting.vet(leaf, presented, when)
        own_tree = parts is not None and (
            known is not None
            or in_profile(signature, form.signature_algorithm, form.digest_algorithm, form.c14n)
        )
        if own_tree:
            assert parts is not None
            checked = verify_in_profile(
                root,
                signature,
                form.signature_algorithm,
                leaf,
                parts,
                known_shape=known is not None,
                values=values,
                signed_info=signed_info,
            )
            if known is None:
                self._shapes.remember(shape, _KnownShape(form, checked.signed_info_template))
            signed_bytes, signed_root = checked.signed_bytes, checked.signed_root
        else:
            result = self._check_signature(root, leaf, form, when)
            signed_bytes, signed_root = result.signed_data, result.signed_xml
        if signed_root is None or signed_root.tag != f"{{{EDXML_NS}}}edXML":
            raise SignatureWrappingError("the signed content is not the EDXML package")
        # On the hardened parse's tree the header found above is still the first one.
        sender = _sender_of(signed_root, header if own_tree else None)
        if self.policy.require_sender_binding and sender != vetted.agency_code:
            raise SenderMismatchError(sender or "", vetted.agency_code)
        verified = VerifiedPackage(
            signed_bytes=signed_bytes,
            signed_root=signed_root,
            certificate=leaf,
            chain=vetted.chain,
            agency_code=vetted.agency_code,
            fingerprint=vetted.fingerprint,
            signature_algorithm=form.signature_algorithm,
            digest_algorithm=form.digest_algorithm,
            c14n=form.c14n,
            sender_code=sender,
            verified_at=when,
        )
        return verified, own_tree

    def _check_strength(self, form: SignatureForm) -> None:
        if not self.policy.allow_sha1:
            if form.signature_algorithm.is_sha1:
                raise WeakAlgorithmError(form.signature_algorithm.short_name)
            if form.digest_algorithm is DigestAlgorithm.SHA1:
                raise WeakAlgorithmError(f"digest {form.digest_algorithm.short_name}")
        bits = _rsa_bits(form.signer_certificate)
        if bits is not None and bits < self.policy.min_rsa_bits:
            raise WeakAlgorithmError(f"RSA key of {bits} bits")

    def _check_signature(
        self, root: etree._Element, leaf: x509.Certificate, form: SignatureForm, at: datetime
    ) -> Any:
        # The chain and validity are already checked (with the policy's clock skew);
        # signxml re-checks validity without skew, so hand it a time inside the period.
        inside = min(max(at, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
        config = SignatureConfiguration(
            require_x509=True,
            location=_SIGNATURE_LOCATION,
            expect_references=1,
            signature_methods=frozenset({SxSignatureMethod(form.signature_algorithm.value)}),
            digest_algorithms=frozenset({SxDigestAlgorithm(form.digest_algorithm.value)}),
            verification_time=inside,
            # A reference without a C14N transform is canonicalised with inclusive
            # C14N 1.0 (XML-DSig §4.4.3.2); the field SDK writes such references.
            default_reference_c14n_method=SxCanonicalizationMethod.CANONICAL_XML_1_0,
        )
        try:
            return XMLVerifier().verify(
                root, x509_cert=leaf, parser=internal_parser(), expect_config=config
            )
        except InvalidDigest:
            raise DigestMismatchError() from None
        except InvalidCertificate as error:
            raise UntrustedCertificateError(f"certificate refused: {error}") from None
        except InvalidSignature as error:
            if "Signature verification failed" in str(error) or "mismatch" in str(error).lower():
                raise SignatureValueError() from None
            raise MalformedSignatureError(f"signature refused: {error}") from None
        except InvalidInput as error:
            raise MalformedSignatureError(f"signature cannot be read: {error}") from None
        except SignXMLException as error:
            raise MalformedSignatureError(f"signature refused: {error}") from None
        except (ValueError, TypeError, etree.LxmlError) as error:
            raise MalformedSignatureError(f"signature cannot be read: {error}") from None
