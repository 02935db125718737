"""The log's CRL archive: each CRL kept once, and the one current at a moment chosen per
issuer by its thisUpdate, so a bundle carries the CRLs current at acceptance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bus.store import create_store_engine
from bus.tlog import upgrade
from bus.tlog.crls import CrlArchive

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _crl(name: str, key: ec.EllipticCurvePrivateKey, at: datetime, revoked: int) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .last_update(at)
        .next_update(at + timedelta(days=30))
    )
    for serial in range(1, revoked + 1):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build()
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_crl(pem).public_bytes(serialization.Encoding.DER)


def test_the_crl_current_at_acceptance_is_the_one_chosen(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        upgrade(engine)
        archive = CrlArchive(engine)
        key = ec.generate_private_key(ec.SECP256R1())
        root_v1 = _crl("root", key, T0, 0)
        root_v2 = _crl("root", key, T0 + timedelta(days=2), 1)
        sub = _crl("sub", key, T0 + timedelta(hours=1), 0)
        assert archive.archive([root_v1, sub], now=T0 + timedelta(days=1)) == 2
        assert archive.archive([root_v1 + sub], now=T0 + timedelta(days=1, hours=1)) == 0
        assert archive.archive([root_v2], now=T0 + timedelta(days=3)) == 1
        assert archive.current_at(T0 - timedelta(seconds=1)) == []
        assert archive.current_at(T0 + timedelta(minutes=5)) == [_der(root_v1)]
        assert sorted(archive.current_at(T0 + timedelta(days=1))) == sorted(
            [_der(root_v1), _der(sub)]
        )
        assert sorted(archive.current_at(T0 + timedelta(days=2, seconds=1))) == sorted(
            [_der(root_v2), _der(sub)]
        )
    finally:
        engine.dispose()
