"""The CRLs current when each package was accepted, kept by the log.

A CRL file is replaced when its CA revokes a certificate; an evidence bundle made
later must still carry the list that was current when the package was accepted.
The log archives every CRL it sees (at start and at each checkpoint), keyed by the
SHA-256 of its DER, with its issuer, the time it became current (its ``thisUpdate``,
signed by its CA) and the time the log first saw it. :meth:`CrlArchive.current_at`
then gives, for each issuer, the list current at a moment: the one with the latest
``thisUpdate`` not after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, insert, select

from bus.settings import Settings
from bus.sql import database_errors
from bus.tlog.schema import crls

__all__ = ["CrlArchive", "current_crl_files"]

_WHAT = "the log's CRL archive"


def current_crl_files(settings: Settings) -> list[bytes]:
    """The PEM bytes of the CRLs the bus trusts now (``EDX_CRL``, the PKI root's)."""
    candidates = [settings.resolved_crl, settings.resolved_pki / "root" / "crl.pem"]
    seen: list[bytes] = []
    for path in candidates:
        if path is not None and path.exists():
            data = path.read_bytes()
            if data not in seen:
                seen.append(data)
    return seen


def _read(data: bytes) -> list[x509.CertificateRevocationList]:
    if b"-----BEGIN X509 CRL-----" not in data:
        return [x509.load_der_x509_crl(data)]
    blocks = data.split(b"-----END X509 CRL-----")
    return [
        x509.load_pem_x509_crl(block + b"-----END X509 CRL-----\n")
        for block in blocks
        if b"-----BEGIN X509 CRL-----" in block
    ]


class CrlArchive:
    """Every CRL the log has seen, and which was current when."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def archive(self, files: Sequence[bytes], now: datetime | None = None) -> int:
        """Keep each CRL of ``files`` not seen before, current from ``now``; how many."""
        moment = now or datetime.now(UTC)
        wanted = {}
        for data in files:
            for crl in _read(data):
                der = crl.public_bytes(serialization.Encoding.DER)
                this_update = crl.last_update_utc
                wanted[hashlib.sha256(der).hexdigest()] = {
                    "issuer": crl.issuer.rfc4514_string(),
                    "der": der,
                    "this_update": this_update,
                    "seen_at": moment,
                }
        if not wanted:
            return 0
        with database_errors(_WHAT), self.engine.begin() as connection:
            known = set(
                connection.execute(
                    select(crls.c.digest).where(crls.c.digest.in_(sorted(wanted)))
                ).scalars()
            )
            rows = [{"digest": d, **row} for d, row in wanted.items() if d not in known]
            if rows:
                connection.execute(insert(crls), rows)
        return len(rows)

    def current_at(self, at: datetime) -> list[bytes]:
        """For each issuer, the DER of the CRL current at ``at`` (the latest ``thisUpdate``
        not after it); empty when the log holds none that old."""
        latest: dict[str, tuple[datetime, bytes]] = {}
        with database_errors(_WHAT), self.engine.connect() as connection:
            for row in connection.execute(select(crls).where(crls.c.this_update <= at)):
                known = latest.get(row.issuer)
                if known is None or row.this_update > known[0]:
                    latest[row.issuer] = (row.this_update, bytes(row.der))
        return [der for _, der in sorted(latest.values())]
