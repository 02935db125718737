"""Agency certificates: where the agency code sits, fingerprints, loading PEM files.

The agency code is carried in ONE documented place: the ``UID`` attribute
(OID 0.9.2342.19200300.100.1.1, RFC 4519 ``uid``) of the certificate subject,
holding the code verbatim, e.g. ``UID=000.00.00.H41``. Vietnamese government CA
certificates already use ``UID`` for identifiers; a certificate with no ``UID``, or
with two, names no agency and cannot speak for one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.errors import CredentialError, KeyUsageError, UnboundCertificateError

__all__ = [
    "AGENCY_CODE_OID",
    "DOCUMENT_SIGNING_PURPOSES",
    "PrivateKey",
    "agency_code_of",
    "certificate_fingerprint",
    "check_signing_usage",
    "describe",
    "load_certificate_file",
    "load_certificates",
    "load_private_key",
    "pem_certificates",
]

#: The subject attribute that carries the agency code.
AGENCY_CODE_OID = NameOID.USER_ID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Extended key usages that allow signing documents, when a certificate lists any:
#: documentSigning (RFC 9336), e-mail protection and TLS client authentication (what
#: citizen and agency signing certificates commonly carry), Microsoft document
#: signing, Adobe PDF signing, and anyExtendedKeyUsage.
DOCUMENT_SIGNING_PURPOSES = frozenset(
    {
        x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
        x509.ObjectIdentifier("1.2.840.113583.1.1.5"),
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }
)


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, lower-case hex (the directory's key)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def agency_code_of(cert: x509.Certificate) -> str:
    """The agency code named by the certificate subject's ``UID`` attribute."""
    values = cert.subject.get_attributes_for_oid(AGENCY_CODE_OID)
    if len(values) != 1:
        why = "no UID attribute" if not values else f"{len(values)} UID attributes"
        raise UnboundCertificateError(
            f"certificate {describe(cert)} names no agency code ({why} in its subject)"
        )
    value = values[0].value
    code = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    code = code.strip()
    if not code:
        raise UnboundCertificateError(f"certificate {describe(cert)} has an empty UID attribute")
    return code


def describe(cert: x509.Certificate) -> str:
    """A short human label: the subject common name, else the whole subject."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        value = names[0].value
        return repr(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return repr(cert.subject.rfc4514_string())


def check_signing_usage(cert: x509.Certificate) -> None:
    """Refuse a certificate whose key usage does not include signing documents.

    Document signatures need ``digitalSignature`` or ``nonRepudiation``
    (``contentCommitment``); a certificate without the extension is refused too, since
    every certificate a CA issues for agencies states its usage. A CA certificate is
    not an agency's signing certificate.
    """
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise KeyUsageError(
            f"certificate {describe(cert)} states no key usage, so it may not sign documents"
        ) from None
    if not (usage.digital_signature or usage.content_commitment):
        raise KeyUsageError(
            f"certificate {describe(cert)} may not sign documents "
            "(key usage lacks digitalSignature and nonRepudiation)"
        )
    _check_extended_usage(cert)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return
    if constraints.ca:
        raise KeyUsageError(f"certificate {describe(cert)} is a CA certificate, not a signer's")


def _check_extended_usage(cert: x509.Certificate) -> None:
    """When a certificate narrows its purposes (extended key usage), one of them must
    be a signing purpose: a TLS server or code-signing certificate signs no documents."""
    try:
        purposes = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return
    if not purposes & DOCUMENT_SIGNING_PURPOSES:
        names = ", ".join(sorted(p.dotted_string for p in purposes))
        raise KeyUsageError(
            f"certificate {describe(cert)} is meant for other purposes ({names}), "
            "not for signing documents"
        )


def load_certificates(data: bytes, source: str = "certificate data") -> list[x509.Certificate]:
    """Every certificate in PEM (one or more blocks) or DER data."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as error:
        raise CredentialError(f"{source} holds no readable certificate: {error}") from None


def load_private_key(path: Path, password: bytes | None = None) -> PrivateKey:
    """Load an RSA or EC private key from a PEM file (the consistency check runs once here)."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as error:
        raise CredentialError(f"{path} holds no usable private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CredentialError(f"{path}: only RSA and EC keys can sign EDXML packages")
    return key


def load_certificate_file(path: Path) -> list[x509.Certificate]:
    """The certificates in one PEM or DER file."""
    return load_certificates(_read(path, "certificate"), str(path))


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise CredentialError(f"cannot read {what} {path}: {error.strerror}") from None


def pem_certificates(certs: Iterable[x509.Certificate]) -> bytes:
    """PEM encoding of several certificates, concatenated."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
