"""The verifier every service builds from settings: trust anchors, CRL, policy, limits.

The router, the auditor's replay and the agency SDK verify packages the same way;
building the verifier in one place keeps them from drifting apart.
"""

from __future__ import annotations

from bus.settings import Settings
from signing import TrustStore, VerificationPolicy, Verifier

__all__ = ["make_verifier"]


def make_verifier(settings: Settings, policy: VerificationPolicy | None = None) -> Verifier:
    """A verifier over ``settings``' trust anchors and CRL (when one exists)."""
    crl = settings.resolved_crl
    trust = TrustStore.from_directory(settings.resolved_trust, [crl] if crl else [])
    return Verifier(trust, policy or VerificationPolicy(), limits=settings.package_limits)
