"""Trust stores: anchors from files, intermediate CAs, CRLs, and the agency binding."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from signing import (
    AGENCY_CODE_OID,
    CertificateRevokedError,
    CredentialError,
    DevPki,
    RevocationUnknownError,
    Signer,
    TrustStore,
    UnboundCertificateError,
    UntrustedCertificateError,
    VerificationPolicy,
    Verifier,
    agency_code_of,
    certificate_fingerprint,
)
from tests.signing._packages import document, raw_sign

H41 = "000.00.00.H41"


def _name(common: str, uid: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if uid is not None:
        attributes.append(x509.NameAttribute(AGENCY_CODE_OID, uid))
    return x509.Name(attributes)


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    issuer_key: rsa.RSAPrivateKey,
    issuer_name: x509.Name,
    subject: x509.Name,
    *,
    ca: bool,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(_usage(sign=not ca, ca=ca), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def intermediate(dev_pki: DevPki) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A provincial sub-CA under the dev root, as government CAs issue through one."""
    assert isinstance(dev_pki.root_key, rsa.RSAPrivateKey)
    return _issue(dev_pki.root_key, dev_pki.root_cert.subject, _name("Sub-CA Nghệ An"), ca=True)


@pytest.fixture(scope="module")
def leaf_under_intermediate(
    intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    sub_key, sub_cert = intermediate
    return _issue(sub_key, sub_cert.subject, _name("UBND Tỉnh Nghệ An", H41), ca=False)


def test_chain_through_an_intermediate_carried_in_key_info(
    dev_pki: DevPki,
    intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
    leaf_under_intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> None:
    leaf_key, leaf_cert = leaf_under_intermediate
    signer = Signer(leaf_key, leaf_cert, (intermediate[1],))
    package = signer.sign(document())
    assert package.count(b"<ds:X509Certificate>") == 2
    result = Verifier(TrustStore((dev_pki.root_cert,))).verify(package)
    assert result.chain == (leaf_cert, intermediate[1], dev_pki.root_cert)
    # without the intermediate, in KeyInfo or in the store, there is no chain
    bare = Signer(leaf_key, leaf_cert).sign(document())
    with pytest.raises(UntrustedCertificateError):
        Verifier(TrustStore((dev_pki.root_cert,))).verify(bare)
    # with the intermediate in the store, it is found there
    store = TrustStore.from_certificates([dev_pki.root_cert, intermediate[1]])
    assert store.intermediates == (intermediate[1],)
    assert Verifier(store).verify(bare).agency_code == H41


def test_intermediate_crl_revokes_its_leaf(
    dev_pki: DevPki,
    intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
    leaf_under_intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> None:
    sub_key, sub_cert = intermediate
    leaf_key, leaf_cert = leaf_under_intermediate
    package = Signer(leaf_key, leaf_cert, (sub_cert,)).sign(document())
    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(sub_cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(leaf_cert.serial_number)
            .revocation_date(now - timedelta(seconds=1))
            .build()
        )
        .sign(sub_key, hashes.SHA256())
    )
    store = TrustStore((dev_pki.root_cert,), (), (crl,))
    with pytest.raises(CertificateRevokedError):
        Verifier(store).verify(package)


def test_a_crl_not_signed_by_its_issuer_is_refused(dev_pki: DevPki, other_pki: DevPki) -> None:
    forged_crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(dev_pki.root_cert.subject)  # claims to be the dev root's
        .last_update(datetime.now(UTC) - timedelta(minutes=1))
        .next_update(datetime.now(UTC) + timedelta(days=1))
        .sign(other_pki.root_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    store = TrustStore((dev_pki.root_cert,), (), (forged_crl,))
    with pytest.raises(UntrustedCertificateError, match="CRL"):
        Verifier(store).verify(dev_pki.signer(H41).sign(document()))


def test_require_crl_policy(dev_pki: DevPki) -> None:
    package = dev_pki.signer(H41).sign(document())
    no_crl = TrustStore((dev_pki.root_cert,))
    assert Verifier(no_crl).verify(package).agency_code == H41
    with pytest.raises(UntrustedCertificateError, match="no CRL"):
        Verifier(no_crl, VerificationPolicy(require_crl=True)).verify(package)
    assert Verifier(dev_pki.trust_store(), VerificationPolicy(require_crl=True)).verify(package)


def test_from_directory_reads_certificates_only(dev_pki: DevPki, tmp_path: Path) -> None:
    """The root directory of a dev PKI holds key.pem beside cert.pem: never read as trust."""
    store = TrustStore.from_directory(dev_pki.root_dir)
    assert store.anchors == (dev_pki.root_cert,)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        dev_pki.root_key_path.read_bytes()
        + dev_pki.root_cert.public_bytes(serialization.Encoding.PEM)
    )
    assert TrustStore.from_directory(bundle).anchors == (dev_pki.root_cert,)
    der = tmp_path / "root.cer"
    der.write_bytes(dev_pki.root_cert.public_bytes(serialization.Encoding.DER))
    assert TrustStore.from_directory(der).anchors == (dev_pki.root_cert,)


def test_unusable_trust_stores_are_named(dev_pki: DevPki, tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="does not exist"):
        TrustStore.from_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CredentialError, match="no certificate"):
        TrustStore.from_directory(tmp_path / "empty")
    agency_only = tmp_path / "agency-only"
    agency_only.mkdir()
    (agency_only / "cert.pem").write_bytes(dev_pki.paths(H41).cert_path.read_bytes())
    with pytest.raises(CredentialError, match="no trust anchor"):
        TrustStore.from_directory(agency_only)
    with pytest.raises(CredentialError, match="CRL"):
        TrustStore.from_directory(dev_pki.root_dir, [tmp_path / "nope.pem"])


def test_agency_code_sits_in_the_subject_uid(dev_pki: DevPki) -> None:
    cert = dev_pki.certificate(H41)
    assert cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == H41
    assert agency_code_of(cert) == H41
    der = cert.public_bytes(serialization.Encoding.DER)
    assert certificate_fingerprint(cert) == hashlib.sha256(der).hexdigest()
    with pytest.raises(UnboundCertificateError):
        agency_code_of(dev_pki.root_cert)
    assert isinstance(dev_pki.root_key, rsa.RSAPrivateKey)
    _, two = _issue(
        dev_pki.root_key,
        dev_pki.root_cert.subject,
        x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "ambiguous"),
                x509.NameAttribute(AGENCY_CODE_OID, H41),
                x509.NameAttribute(AGENCY_CODE_OID, "000.00.00.G22"),
            ]
        ),
        ca=False,
    )
    with pytest.raises(UnboundCertificateError, match="2 UID"):
        agency_code_of(two)


def test_key_info_order_does_not_matter(
    dev_pki: DevPki,
    intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
    leaf_under_intermediate: tuple[rsa.RSAPrivateKey, x509.Certificate],
) -> None:
    """XML-DSig implies no order in X509Data: the intermediate may come first."""
    leaf_key, leaf_cert = leaf_under_intermediate
    package = raw_sign(document(), leaf_key, [intermediate[1], leaf_cert])
    result = Verifier(TrustStore((dev_pki.root_cert,))).verify(package)
    assert result.certificate == leaf_cert
    assert result.agency_code == H41


def test_stale_crl_under_require_fresh_crl(dev_pki: DevPki) -> None:
    package = dev_pki.signer(H41).sign(document())
    now = datetime.now(UTC)
    assert isinstance(dev_pki.root_key, rsa.RSAPrivateKey)
    stale = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(dev_pki.root_cert.subject)
        .last_update(now - timedelta(hours=2))
        .next_update(now - timedelta(minutes=20))
        .sign(dev_pki.root_key, hashes.SHA256())
    )
    store = TrustStore((dev_pki.root_cert,), (), (stale,))
    assert Verifier(store).verify(package).agency_code == H41
    fresh_only = VerificationPolicy(require_fresh_crl=True)
    with pytest.raises(RevocationUnknownError, match="stale") as caught:
        Verifier(store, fresh_only).verify(package)
    assert caught.value.reason_code == "revocation-unknown"
    # as of a time the list was current, it holds
    assert Verifier(store, fresh_only).verify(package, at=now - timedelta(minutes=40))
    with pytest.raises(RevocationUnknownError, match="no CRL"):
        Verifier(TrustStore((dev_pki.root_cert,)), fresh_only).verify(package)
