"""The one read path for signed packages, built once from settings.

Every reader of signed bytes (the router, an agency's inbox and its pre-send
check, the auditor's replay, the gateway) goes through :class:`PackageReader`:
the signature verified against the configured trust anchors, CRL and policy,
what it covers parsed under the package limits and the agency pattern, and the
sender bound to the agency its certificate names. Built in one place so the
parts can never disagree about the same bytes (a custom ``EDX_AGENCY_PATTERN``
included).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bus.settings import Settings
from edxml import Mode
from signing import ReadPackage, TrustStore, VerificationPolicy, Verifier

__all__ = ["PackageReader", "make_reader", "make_verifier"]


def make_verifier(settings: Settings, policy: VerificationPolicy | None = None) -> Verifier:
    """A verifier over ``settings``' trust anchors and CRL (when one exists)."""
    crl = settings.resolved_crl
    trust = TrustStore.from_directory(settings.resolved_trust, [crl] if crl else [])
    return Verifier(trust, policy or VerificationPolicy(), limits=settings.packages.limits)


@dataclass(frozen=True)
class PackageReader:
    """The package rules of one deployment: trust, policy, limits, agency pattern, mode.

    ``read`` returns the verified, parsed package with its signer bound to its
    sender, or raises the named error (an ``edxml.EdxbusError``) of the first
    thing wrong with it. Strict mode is the bus's rule: a package the router
    refused reads as refused wherever it is read again.
    """

    verifier: Verifier
    agency_pattern: str | None
    mode: Mode = Mode.STRICT

    def read(self, data: bytes, *, at: datetime | None = None) -> ReadPackage:
        """Verify ``data`` at ``at`` (now by default) and read what its signature covers."""
        return self.verifier.read(data, mode=self.mode, agency_pattern=self.agency_pattern, at=at)


def make_reader(settings: Settings, policy: VerificationPolicy | None = None) -> PackageReader:
    """The read path of ``settings``: its verifier and its agency pattern."""
    return PackageReader(make_verifier(settings, policy), settings.packages.agency_pattern)
