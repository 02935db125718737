"""The agency's signing key and the trust it verifies others with, from settings.

What the agency receives, and what it checks before sending, is read the way the
router reads it: :func:`load_reader` gives the deployment's one read path
(``bus.PackageReader``: trust anchors, CRL, limits and the agency pattern).

An agency's key and certificate sit under ``$EDX_PKI/agencies/CODE/`` unless
given explicitly (DESIGN.md §8). A key that is missing, or a certificate that
names another agency, means this client cannot act as that agency: that is a
:class:`NotAuthorisedError` before anything is sent, not a rejection later.
"""

from __future__ import annotations

from pathlib import Path

from agency_client.errors import NotAuthorisedError
from bus import PackageReader, Settings, make_reader, make_verifier
from edxml.errors import SigningError
from signing import Signer, VerificationPolicy, Verifier

__all__ = ["load_reader", "load_signer", "load_verifier"]


def load_signer(
    settings: Settings,
    agency: str,
    *,
    key_path: Path | None = None,
    cert_path: Path | None = None,
) -> Signer:
    """The signer of ``agency``: its key and certificate, loaded once."""
    default_key, default_cert = settings.agency_key_paths(agency)
    key = key_path or default_key
    cert = cert_path or default_cert
    for label, path in (("key", key), ("certificate", cert)):
        if not path.is_file():
            raise NotAuthorisedError(agency, f"its {label} {path} does not exist")
    try:
        signer = Signer.from_files(key, cert)
    except SigningError as exc:
        raise NotAuthorisedError(agency, f"its key or certificate cannot be used: {exc}") from exc
    if signer.agency_code != agency:
        raise NotAuthorisedError(
            agency, f"the certificate {cert} names agency {signer.agency_code}"
        )
    return signer


def load_verifier(settings: Settings, policy: VerificationPolicy | None = None) -> Verifier:
    """A verifier over the configured trust anchors and CRL (if one exists)."""
    return make_verifier(settings, policy)


def load_reader(settings: Settings, verifier: Verifier | None = None) -> PackageReader:
    """The read path of ``settings`` (its agency pattern), over ``verifier`` if given."""
    if verifier is None:
        return make_reader(settings)
    return PackageReader(verifier, settings.packages.agency_pattern)
