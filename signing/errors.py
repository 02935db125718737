"""The ``SigningError`` branch of the one exception tree (see ``edxml.errors``).

Every refusal of the trust layer names its reason, so that a router can dead-letter
a package with a precise ``reason_code`` and a clerk reads one clear line::

    SigningError                     edxml.errors: who signed what cannot be proven
    ├── NoSignatureError                 the package carries no XML-DSig signature
    ├── MalformedSignatureError          a signature is there but unreadable or ambiguous
    │   ├── UnnamespacedSignatureError   a <Signature> outside the XML-DSig namespace
    │   ├── UnsupportedAlgorithmError    an algorithm or transform not accepted (.algorithm)
    │   ├── SignatureWrappingError       the signature does not cover the whole package
    │   └── UnsignedContentError         bytes outside what XML-DSig covers carry meaning
    ├── DigestMismatchError              the content changed after signing
    ├── SignatureValueError              the signature value does not match SignedInfo + key
    ├── WeakAlgorithmError               SHA-1 (or a short key) refused by the policy
    ├── CertificateError                 the signer certificate is not acceptable
    │   ├── UntrustedCertificateError    no chain to a trust anchor
    │   │   └── RevocationUnknownError   no CRL, or only a stale one, where the policy needs it
    │   ├── CertificateExpiredError      expired or not yet valid (.not_before, .not_after)
    │   ├── CertificateRevokedError      in its issuer's CRL (.serial_number, .revoked_at)
    │   ├── KeyUsageError                the certificate may not sign documents
    │   └── UnboundCertificateError      the certificate names no agency code
    ├── SenderMismatchError              From/OrganId is not the certificate's agency
    └── CredentialError                  keys, certificates, CRLs or the dev PKI unusable
        ├── KeyMismatchError             the private key does not belong to the certificate
        ├── AlreadySignedError           signing a package that already carries a signature
        └── PkiError                     a dev PKI operation failed (no PKI, unknown agency)

``reason_code`` values are stable: they travel in dead-letter headers and REJECTED
events. Messages are written for a clerk: one line, no traceback.
"""

from __future__ import annotations

from datetime import datetime

from edxml.errors import SigningError

__all__ = [
    "AlreadySignedError",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateRevokedError",
    "CredentialError",
    "DigestMismatchError",
    "KeyMismatchError",
    "KeyUsageError",
    "MalformedSignatureError",
    "NoSignatureError",
    "PkiError",
    "RevocationUnknownError",
    "SenderMismatchError",
    "SignatureValueError",
    "SignatureWrappingError",
    "SigningError",
    "UnboundCertificateError",
    "UnnamespacedSignatureError",
    "UnsignedContentError",
    "UnsupportedAlgorithmError",
    "UntrustedCertificateError",
    "WeakAlgorithmError",
]


class NoSignatureError(SigningError):
    """The package carries no XML-DSig signature at all."""

    reason_code = "no-signature"

    def __init__(self, message: str = "the package carries no signature") -> None:
        super().__init__(message)


class MalformedSignatureError(SigningError):
    """A signature is present but cannot be read, or it is ambiguous (two signatures)."""

    reason_code = "malformed-signature"


class UnnamespacedSignatureError(MalformedSignatureError):
    """A ``<Signature>`` without the XML-DSig namespace: readable, never verifiable."""

    reason_code = "signature-without-namespace"

    def __init__(self) -> None:
        super().__init__(
            "the <Signature> element is not in the XML-DSig namespace "
            "(http://www.w3.org/2000/09/xmldsig#), so it cannot be verified"
        )


class UnsupportedAlgorithmError(MalformedSignatureError):
    """An algorithm, transform or reference form that edxbus does not accept."""

    reason_code = "unsupported-algorithm"

    def __init__(self, what: str, algorithm: str) -> None:
        super().__init__(f"unsupported {what}: {algorithm}")
        self.what = what
        self.algorithm = algorithm


class SignatureWrappingError(MalformedSignatureError):
    """The signature covers something other than the whole package (wrapping attempt)."""

    reason_code = "signature-wrapping"


class UnsignedContentError(MalformedSignatureError):
    """Something outside what the signature can cover (a processing instruction beside
    the root, an XML 1.1 declaration, base64 with stray bits) could change meaning."""

    reason_code = "unsigned-content"


class DigestMismatchError(SigningError):
    """The digest over the package does not match: the content changed after signing."""

    reason_code = "digest-mismatch"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or "the content changed after it was signed (digest mismatch)")


class SignatureValueError(SigningError):
    """The signature value does not match the signed information and the certificate's key."""

    reason_code = "signature-mismatch"

    def __init__(
        self, message: str = "the signature value does not match (SignedInfo altered or wrong key)"
    ) -> None:
        super().__init__(message)


class WeakAlgorithmError(SigningError):
    """An algorithm the verification policy refuses (SHA-1 by default)."""

    reason_code = "weak-algorithm"

    def __init__(self, algorithm: str) -> None:
        super().__init__(f"the policy refuses the weak algorithm {algorithm}")
        self.algorithm = algorithm


class CertificateError(SigningError):
    """The signer certificate is not acceptable."""

    reason_code = "certificate-error"


class UntrustedCertificateError(CertificateError):
    """The certificate does not chain to a trust anchor of the trust store."""

    reason_code = "untrusted-certificate"


class RevocationUnknownError(UntrustedCertificateError):
    """The policy needs a current CRL of the issuer and the trust store has none."""

    reason_code = "revocation-unknown"


class CertificateExpiredError(CertificateError):
    """The certificate (or one in its chain) is expired or not yet valid at the given time."""

    reason_code = "certificate-expired"

    def __init__(
        self, subject: str, not_before: datetime, not_after: datetime, at: datetime
    ) -> None:
        state = "not yet valid" if at < not_before else "expired"
        super().__init__(
            f"certificate {subject} is {state} at {at:%Y-%m-%d %H:%M:%S}Z "
            f"(valid {not_before:%Y-%m-%d %H:%M:%S}Z to {not_after:%Y-%m-%d %H:%M:%S}Z)"
        )
        self.subject = subject
        self.not_before = not_before
        self.not_after = not_after
        self.at = at
        self.not_yet_valid = at < not_before


class CertificateRevokedError(CertificateError):
    """The certificate is listed in its issuer's certificate revocation list."""

    reason_code = "certificate-revoked"

    def __init__(self, subject: str, serial_number: int, revoked_at: datetime) -> None:
        super().__init__(
            f"certificate {subject} (serial {serial_number:x}) was revoked "
            f"on {revoked_at:%Y-%m-%d %H:%M:%S}Z"
        )
        self.subject = subject
        self.serial_number = serial_number
        self.revoked_at = revoked_at


class KeyUsageError(CertificateError):
    """The certificate's key usage does not allow signing documents."""

    reason_code = "key-usage"


class UnboundCertificateError(CertificateError):
    """The certificate carries no agency code, so it cannot speak for an agency."""

    reason_code = "unbound-certificate"


class SenderMismatchError(SigningError):
    """The package's ``From/OrganId`` is not the agency named by the signer certificate."""

    reason_code = "sender-mismatch"

    def __init__(self, sender: str, agency: str) -> None:
        if sender:
            message = (
                f"the package says it is from {sender!r} "
                f"but is signed by the certificate of {agency!r}"
            )
        else:
            message = (
                f"the package names no sender (From/OrganId) and is signed by the "
                f"certificate of {agency!r}"
            )
        super().__init__(message)
        self.sender = sender
        self.agency = agency


class CredentialError(SigningError):
    """A key, certificate, CRL or dev PKI file cannot be used."""

    reason_code = "credential-error"


class KeyMismatchError(CredentialError):
    """The private key does not belong to the certificate."""

    reason_code = "key-mismatch"


class AlreadySignedError(CredentialError):
    """Signing refused: the package already carries a signature."""

    reason_code = "already-signed"

    def __init__(self) -> None:
        super().__init__("the package already carries a signature; sign the unsigned package")


class PkiError(CredentialError):
    """A dev PKI operation failed (missing directory, unknown agency, existing files)."""

    reason_code = "pki-error"
