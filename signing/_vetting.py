"""The signer certificate's checks, remembered per (certificate, CRL).

A busy agency signs thousands of packages with one certificate. Its chain, key
usage, agency code and fingerprint do not change between packages, and neither do
the CRL entries of its chain while the trust store holds the same CRLs (a store is
immutable: new CRLs make a new store, hence a new verifier and a new memo). What
does change is the verification time, so the memo keeps the *times* that matter
(the validity window of the whole chain, the earliest revocation date, the CRLs'
``nextUpdate``) and each package only compares its time with them.

A package whose time falls outside what the memo proves is checked the full way,
in the original order, so the refusal and its message are exactly those of
:meth:`TrustStore.validate`, :func:`check_signing_usage` and :func:`agency_code_of`.
Failures are never remembered.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from signing.certificates import agency_code_of, certificate_fingerprint, check_signing_usage
from signing.policy import VerificationPolicy
from signing.trust import TrustStore

__all__ = ["CertificateVetting", "Vetted"]

_MAX_MEMO = 4096


@dataclass(frozen=True)
class Vetted:
    """What a certificate's checks proved: the chain and the agency it speaks for."""

    chain: tuple[x509.Certificate, ...]
    agency_code: str
    fingerprint: str


@dataclass(frozen=True)
class _Memo:
    vetted: Vetted
    certificates: tuple[x509.Certificate, ...]
    valid_from: datetime
    valid_until: datetime
    revoked_from: datetime | None
    crl_due: datetime | None
    crl_missing: bool
    #: ``(earliest, latest, revoked_from)``: the UTC times at which :meth:`holds_at`
    #: answers True, worked out once for the policy (None: ask the long way).
    window: tuple[datetime, datetime, datetime | None] | None = None

    def holds_at(self, at: datetime, policy: VerificationPolicy) -> bool:
        window = self.window
        if window is not None and at.tzinfo is UTC:
            earliest, latest, revoked_from = window
            return earliest <= at <= latest and (revoked_from is None or at < revoked_from)
        return self.holds_slowly(at, policy)

    def with_window(self, policy: VerificationPolicy) -> _Memo:
        """This memo with :attr:`window` worked out for ``policy``: the same answers as
        :meth:`holds_slowly` for any time in UTC (fixed offset: adding the skew to the
        time or taking it from the bounds is the same comparison)."""
        skew = policy.clock_skew
        try:
            earliest = self.valid_from - skew
            latest = self.valid_until + skew
            revoked_from = None
            if policy.check_revocation:
                if self.crl_missing and (policy.require_crl or policy.require_fresh_crl):
                    return self  # never holds: the long way refuses
                revoked_from = self.revoked_from
                if policy.require_fresh_crl and self.crl_due is not None:
                    latest = min(latest, self.crl_due + skew)
        except OverflowError:  # a bound beyond datetime's range: keep the long way
            return self
        return dataclasses.replace(self, window=(earliest, latest, revoked_from))

    def holds_slowly(self, at: datetime, policy: VerificationPolicy) -> bool:
        skew = policy.clock_skew
        if at + skew < self.valid_from or at - skew > self.valid_until:
            return False
        if not policy.check_revocation:
            return True
        if self.revoked_from is not None and self.revoked_from <= at:
            return False
        if self.crl_missing and (policy.require_crl or policy.require_fresh_crl):
            return False
        due = self.crl_due
        return not (policy.require_fresh_crl and due is not None and at - skew > due)


class CertificateVetting:
    """The certificate checks of one verifier (one trust store, one policy), memoised."""

    def __init__(self, trust: TrustStore, policy: VerificationPolicy) -> None:
        self.trust = trust
        self.policy = policy
        # Keyed by the certificates' identities (a verifier loads each distinct
        # certificate once, so the same signer presents the same objects); the memo
        # keeps them alive and is only used when they are the very same objects.
        self._memo: dict[tuple[int, ...], _Memo] = {}
        self._lock = threading.Lock()

    def vet(
        self, leaf: x509.Certificate, presented: tuple[x509.Certificate, ...], at: datetime
    ) -> Vetted:
        """Chain, validity, revocation, key usage, agency code: raise the first failure."""
        certificates = (leaf, *presented)
        key = tuple(map(id, certificates))
        memo = self._memo.get(key)
        if (
            memo is not None
            and len(memo.certificates) == len(certificates)
            and all(map(operator.is_, memo.certificates, certificates))
            and memo.holds_at(at, self.policy)
        ):
            return memo.vetted
        vetted = self._full(leaf, presented, at)
        memo = self._remember(vetted, certificates)
        with self._lock:
            if len(self._memo) >= _MAX_MEMO:
                self._memo.clear()
            self._memo[key] = memo
        return vetted

    def _full(
        self, leaf: x509.Certificate, presented: tuple[x509.Certificate, ...], at: datetime
    ) -> Vetted:
        policy = self.policy
        chain = self.trust.validate(
            leaf,
            at=at,
            presented=presented,
            check_revocation=policy.check_revocation,
            require_crl=policy.require_crl,
            require_fresh_crl=policy.require_fresh_crl,
            clock_skew=policy.clock_skew,
        )
        check_signing_usage(leaf)
        return Vetted(chain, agency_code_of(leaf), certificate_fingerprint(leaf))

    def _remember(self, vetted: Vetted, certificates: tuple[x509.Certificate, ...]) -> _Memo:
        chain = vetted.chain
        revoked: list[datetime] = []
        dues: list[datetime] = []
        missing = False
        if self.policy.check_revocation:
            for cert, issuer in itertools.pairwise(chain):
                crl = self.trust.crl_for(issuer)  # checked already: this cannot raise now
                if crl is None:
                    missing = True
                    continue
                if crl.next_update_utc is not None:
                    dues.append(crl.next_update_utc)
                entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
                if entry is not None:
                    revoked.append(entry.revocation_date_utc)
        return _Memo(
            vetted=vetted,
            certificates=certificates,
            valid_from=max(c.not_valid_before_utc for c in chain),
            valid_until=min(c.not_valid_after_utc for c in chain),
            revoked_from=min(revoked, default=None),
            crl_due=min(dues, default=None),
            crl_missing=missing,
        ).with_window(self.policy)
