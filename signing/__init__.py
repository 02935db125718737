"""XML signatures, agency certificates, trust anchors, revocation and the dev PKI.

A pure library over lxml, ``cryptography`` and ``signxml``: files in, bytes out.
Sign with a :class:`Signer` loaded once; verify with a :class:`Verifier` built once
over a :class:`TrustStore` and a :class:`VerificationPolicy`; act only on the
:class:`VerifiedPackage` it returns. The agency code sits in the certificate
subject's ``UID`` attribute (see ``docs/SIGNING.md``).
"""

from edxml.errors import SigningError
from signing.certificates import (
    AGENCY_CODE_OID,
    agency_code_of,
    certificate_fingerprint,
    check_signing_usage,
    load_certificate_file,
    load_private_key,
)
from signing.devpki import DevPki, IssuedAgency, KeyType
from signing.errors import (
    AlreadySignedError,
    CertificateError,
    CertificateExpiredError,
    CertificateRevokedError,
    CredentialError,
    DigestMismatchError,
    KeyMismatchError,
    KeyUsageError,
    MalformedSignatureError,
    NoSignatureError,
    PkiError,
    RevocationUnknownError,
    SenderMismatchError,
    SignatureValueError,
    SignatureWrappingError,
    UnboundCertificateError,
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
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import (
    ReadPackage,
    SignatureForm,
    VerifiedPackage,
    Verifier,
    read_signature_form,
)

__all__ = [
    "AGENCY_CODE_OID",
    "AlreadySignedError",
    "Canonicalization",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateRevokedError",
    "CredentialError",
    "DevPki",
    "DigestAlgorithm",
    "DigestMismatchError",
    "IssuedAgency",
    "KeyMismatchError",
    "KeyType",
    "KeyUsageError",
    "MalformedSignatureError",
    "NoSignatureError",
    "PkiError",
    "ReadPackage",
    "RevocationUnknownError",
    "SenderMismatchError",
    "SignatureAlgorithm",
    "SignatureForm",
    "SignatureValueError",
    "SignatureWrappingError",
    "Signer",
    "SigningError",
    "TrustStore",
    "UnboundCertificateError",
    "UnnamespacedSignatureError",
    "UnsignedContentError",
    "UnsupportedAlgorithmError",
    "UntrustedCertificateError",
    "VerificationPolicy",
    "VerifiedPackage",
    "Verifier",
    "WeakAlgorithmError",
    "agency_code_of",
    "certificate_fingerprint",
    "check_signing_usage",
    "load_certificate_file",
    "load_private_key",
    "read_signature_form",
]
