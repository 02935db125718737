"""Algorithms and the verification policy.

The algorithm identifiers are the XML-DSig URIs, so a value read from a
signature maps onto an enum member without translation tables. The policy is a
frozen object with safe defaults: SHA-1 is refused unless a deployment that still
receives field packages (DOMAIN.md §4) says otherwise, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

__all__ = [
    "Canonicalization",
    "DigestAlgorithm",
    "SignatureAlgorithm",
    "VerificationPolicy",
]

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_DSIG_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_XMLENC = "http://www.w3.org/2001/04/xmlenc#"


class SignatureAlgorithm(StrEnum):
    """Signature methods edxbus signs with or accepts, by their XML-DSig URI."""

    RSA_SHA256 = f"{_DSIG_MORE}rsa-sha256"
    ECDSA_SHA256 = f"{_DSIG_MORE}ecdsa-sha256"
    RSA_SHA384 = f"{_DSIG_MORE}rsa-sha384"
    RSA_SHA512 = f"{_DSIG_MORE}rsa-sha512"
    ECDSA_SHA384 = f"{_DSIG_MORE}ecdsa-sha384"
    RSA_SHA1 = f"{_DSIG}rsa-sha1"

    @property
    def short_name(self) -> str:
        """``rsa-sha256``: the fragment after the namespace, as clerks read it."""
        return self.value.rsplit("#", 1)[1]

    @property
    def is_sha1(self) -> bool:
        return self is SignatureAlgorithm.RSA_SHA1


class DigestAlgorithm(StrEnum):
    """Reference digest methods, by their XML-DSig URI."""

    SHA256 = f"{_XMLENC}sha256"
    SHA384 = f"{_DSIG_MORE}sha384"
    SHA512 = f"{_XMLENC}sha512"
    SHA1 = f"{_DSIG}sha1"

    @property
    def short_name(self) -> str:
        return self.value.rsplit("#", 1)[1]


class Canonicalization(StrEnum):
    """Canonicalization methods: edxbus signs exclusive, and reads inclusive field forms."""

    EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
    EXCLUSIVE_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
    INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    INCLUSIVE_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
    INCLUSIVE_1_1 = "http://www.w3.org/2006/12/xml-c14n11"

    @property
    def short_name(self) -> str:
        names = {
            Canonicalization.EXCLUSIVE: "exc-c14n",
            Canonicalization.EXCLUSIVE_WITH_COMMENTS: "exc-c14n-with-comments",
            Canonicalization.INCLUSIVE: "c14n",
            Canonicalization.INCLUSIVE_WITH_COMMENTS: "c14n-with-comments",
            Canonicalization.INCLUSIVE_1_1: "c14n11",
        }
        return names[self]


@dataclass(frozen=True)
class VerificationPolicy:
    """What a verifier accepts. The defaults are the safe choice; loosen them on purpose.

    - ``allow_sha1``: accept RSA-SHA1 signatures and SHA-1 digests (field systems
      still send them); refused by default with :class:`~signing.errors.WeakAlgorithmError`.
    - ``check_revocation``: consult the trust store's CRLs.
    - ``require_crl``: refuse a certificate whose issuer has no CRL in the trust store
      (off by default: the embedded default may run before any revocation).
    - ``require_fresh_crl``: refuse when the issuer's CRL is past its ``nextUpdate`` at
      the verification time (a stale list may miss recent revocations).
    - ``require_sender_binding``: the package's ``From/OrganId`` must equal the
      agency code the certificate names.
    - ``clock_skew``: tolerance on validity periods, for clocks that disagree a little.
    - ``min_rsa_bits``: RSA keys shorter than this are a weak algorithm.
    """

    allow_sha1: bool = False
    check_revocation: bool = True
    require_crl: bool = False
    require_fresh_crl: bool = False
    require_sender_binding: bool = True
    clock_skew: timedelta = timedelta(minutes=5)
    min_rsa_bits: int = 2048
