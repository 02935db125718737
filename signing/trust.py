"""Trust anchors, intermediate certificates, CRLs, and the chain check.

The chain is walked here over ``cryptography``'s own primitives
(``verify_directly_issued_by``, ``CertificateRevocationList.is_signature_valid``)
rather than with ``cryptography.x509.verification``: that verifier follows the web
PKI profile (it wants subjectAltName and TLS extended key usages), checks no CRLs,
and answers every failure with one generic error, while a router and an auditor
need the precise reason (expired, revoked, untrusted) and a check *at a past time*.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from signing.certificates import describe, load_certificates
from signing.errors import (
    CertificateExpiredError,
    CertificateRevokedError,
    CredentialError,
    RevocationUnknownError,
    UntrustedCertificateError,
)

__all__ = ["TrustStore"]

_PEM_CERT = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_CERT_SUFFIXES = {".pem", ".crt", ".cer"}
_MAX_CHAIN = 8
_MAX_MEMO = 4096


def _is_self_issued(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _may_issue(cert: x509.Certificate) -> bool:
    """A CA certificate (basicConstraints cA) whose key usage, if stated, allows keyCertSign."""
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _read_pem_certificates(path: Path) -> list[x509.Certificate]:
    """Only the CERTIFICATE blocks of a file: a key beside a root certificate is never read."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CredentialError(f"cannot read {path}: {error.strerror}") from None
    blocks = _PEM_CERT.findall(data)
    if not blocks:
        return [] if b"-----BEGIN" in data else load_certificates(data, str(path))
    return load_certificates(b"\n".join(blocks), str(path))


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CredentialError(f"cannot read CRL {path}: {error.strerror}") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as error:
        raise CredentialError(f"{path} holds no readable CRL: {error}") from None


@dataclass(frozen=True)
class TrustStore:
    """Trust anchors (self-signed roots), intermediate CA certificates, and CRLs.

    Build it once and share it: it holds parsed objects, so verifying costs no file I/O.
    """

    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    _crl_by_issuer: dict[x509.Name, x509.CertificateRevocationList] = field(
        init=False, repr=False, compare=False
    )
    # Memos: a store is immutable, so a chain found or a CRL checked stays so.
    _chains: dict[tuple[x509.Certificate, ...], tuple[x509.Certificate, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _crl_signed: dict[x509.Name, bool] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if not self.anchors:
            raise CredentialError("the trust store holds no trust anchor (self-signed root)")
        newest: dict[x509.Name, x509.CertificateRevocationList] = {}
        for crl in self.crls:
            known = newest.get(crl.issuer)
            if known is None or crl.last_update_utc > known.last_update_utc:
                newest[crl.issuer] = crl
        object.__setattr__(self, "_crl_by_issuer", newest)

    @classmethod
    def from_certificates(
        cls,
        certificates: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
    ) -> TrustStore:
        """Sort certificates into anchors (self-signed) and intermediates."""
        anchors: list[x509.Certificate] = []
        intermediates: list[x509.Certificate] = []
        for cert in certificates:
            (anchors if _is_self_issued(cert) else intermediates).append(cert)
        return cls(tuple(anchors), tuple(intermediates), tuple(crls))

    @classmethod
    def from_directory(cls, path: Path | str, crl_paths: Iterable[Path | str] = ()) -> TrustStore:
        """Every certificate in the ``*.pem``/``*.crt``/``*.cer`` files of a directory
        (or in one file), plus the CRLs named. Private-key blocks are never read."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in _CERT_SUFFIXES)
        elif path.is_file():
            files = [path]
        else:
            raise CredentialError(f"trust store {path} does not exist")
        certificates = [cert for file in files for cert in _read_pem_certificates(file)]
        if not certificates:
            raise CredentialError(f"no certificate found in the trust store {path}")
        store = cls.from_certificates(certificates, [_load_crl(Path(p)) for p in crl_paths])
        return store

    def with_crls(self, crls: Iterable[x509.CertificateRevocationList]) -> TrustStore:
        """The same anchors with more (or fresher) CRLs."""
        return TrustStore(self.anchors, self.intermediates, (*self.crls, *crls))

    def crl_for(self, issuer: x509.Certificate) -> x509.CertificateRevocationList | None:
        """The newest CRL of this issuer whose signature the issuer's key confirms."""
        crl = self._crl_by_issuer.get(issuer.subject)
        if crl is None:
            return None
        valid = self._crl_signed.get(issuer.subject)
        if valid is None:
            try:
                valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            except TypeError:
                valid = False
            self._crl_signed[issuer.subject] = valid
        if not valid:
            raise UntrustedCertificateError(
                f"the CRL of {describe(issuer)} is not signed by that issuer"
            )
        return crl

    def build_chain(
        self, leaf: x509.Certificate, presented: Sequence[x509.Certificate] = ()
    ) -> tuple[x509.Certificate, ...]:
        """Leaf first, anchor last. ``presented``: intermediates the signature carried
        (they help find a path; only the anchors are trusted)."""
        key = (leaf, *presented)
        known = self._chains.get(key)
        if known is not None:
            return known
        chain = self._build_chain(leaf, presented)
        if len(self._chains) >= _MAX_MEMO:
            self._chains.clear()
        self._chains[key] = chain
        return chain

    def _build_chain(
        self, leaf: x509.Certificate, presented: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        pool = [*self.intermediates, *presented]
        chain = [leaf]
        current = leaf
        for _ in range(_MAX_CHAIN):
            for anchor in self.anchors:
                if _issued_by(current, anchor):
                    if current is not leaf and not _may_issue(current):
                        break
                    chain.append(anchor)
                    return tuple(chain)
            issuer = next(
                (c for c in pool if c not in chain and _may_issue(c) and _issued_by(current, c)),
                None,
            )
            if issuer is None:
                break
            chain.append(issuer)
            current = issuer
        raise UntrustedCertificateError(
            f"certificate {describe(leaf)} does not chain to a trusted root "
            f"(issuer {leaf.issuer.rfc4514_string()!r})"
        )

    def validate(
        self,
        leaf: x509.Certificate,
        *,
        at: datetime,
        presented: Sequence[x509.Certificate] = (),
        check_revocation: bool = True,
        require_crl: bool = False,
        require_fresh_crl: bool = False,
        clock_skew: timedelta = timedelta(0),
    ) -> tuple[x509.Certificate, ...]:
        """Chain to an anchor, check every validity period at ``at``, then the CRLs."""
        chain = self.build_chain(leaf, presented)
        for cert in chain:
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            if at + clock_skew < not_before or at - clock_skew > not_after:
                raise CertificateExpiredError(describe(cert), not_before, not_after, at)
        if check_revocation:
            for cert, issuer in itertools.pairwise(chain):
                self._check_revoked(
                    cert,
                    issuer,
                    at=at,
                    require_crl=require_crl,
                    require_fresh=require_fresh_crl,
                    clock_skew=clock_skew,
                )
        return chain

    def _check_revoked(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        at: datetime,
        require_crl: bool,
        require_fresh: bool = False,
        clock_skew: timedelta = timedelta(0),
    ) -> None:
        crl = self.crl_for(issuer)
        if crl is None:
            if require_crl or require_fresh:
                raise RevocationUnknownError(
                    f"no CRL of {describe(issuer)} is available to check {describe(cert)}"
                )
            return
        next_update = crl.next_update_utc
        if require_fresh and next_update is not None and at - clock_skew > next_update:
            raise RevocationUnknownError(
                f"the CRL of {describe(issuer)} is stale: it was due for renewal on "
                f"{next_update:%Y-%m-%d %H:%M:%S}Z"
            )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        # A revocation takes effect from its date: an auditor checking an old
        # signature at its own time still sees it valid.
        if entry is not None and entry.revocation_date_utc <= at:
            raise CertificateRevokedError(
                describe(cert), cert.serial_number, entry.revocation_date_utc
            )
