"""A development PKI: a root CA standing in for the government CA, agency certificates, a CRL.

Laid out as DESIGN.md §8 says, so that ``edx pki``, the settings (``EDX_PKI``,
``EDX_TRUST``) and the tests share one picture::

    DIR/root/cert.pem            the root certificate (a trust anchor)
    DIR/root/key.pem             its private key (mode 0600)
    DIR/agencies/CODE/cert.pem   an agency's signing certificate (subject UID = CODE)
    DIR/agencies/CODE/key.pem    its private key (mode 0600)
    DIR/crl.pem                  the issuing CA's certificate revocation list

With ``init(intermediate=True)`` an issuing sub-CA sits between them, as government
CAs issue through one: ``DIR/intermediate/{cert,key}.pem`` signs the agency
certificates and ``crl.pem``; ``DIR/root/crl.pem`` is the root's own CRL; each
agency's ``cert.pem`` holds its certificate followed by the sub-CA's.

It is for the embedded default and for tests, never for production keys: keys are
written unencrypted. The options that make broken certificates (expired, not yet
valid, no signing key usage, no agency code) exist so tests can prove the verifier
refuses each of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from signing._key_usage import key_usage
from signing.certificates import (
    AGENCY_CODE_OID,
    PrivateKey,
    load_certificate_file,
    load_private_key,
)
from signing.errors import PkiError
from signing.signer import Signer
from signing.trust import TrustStore

__all__ = ["DevPki", "IssuedAgency", "KeyType"]

_ROOT_NAME = "edxbus development root CA"
_CRL_LIFETIME = timedelta(days=30)


class KeyType(StrEnum):
    """Key types the dev PKI can issue."""

    RSA = "rsa"
    EC = "ec"


@dataclass(frozen=True)
class IssuedAgency:
    """Where one agency's credentials were written."""

    code: str
    key_path: Path
    cert_path: Path


def _new_key(key_type: KeyType, rsa_bits: int) -> PrivateKey:
    if key_type is KeyType.EC:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def _write_private(path: Path, key: PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edxbus development PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(
    subject: x509.Name,
    key: PrivateKey,
    issuer_key: PrivateKey,
    issuer_name: x509.Name,
    not_before: datetime,
    not_after: datetime,
    path_length: int,
) -> x509.Certificate:
    """A CA certificate: may sign certificates and CRLs, nothing else."""
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer_key is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _crl_pem(
    issuer_key: PrivateKey,
    issuer_name: x509.Name,
    entries: list[x509.RevokedCertificate],
) -> bytes:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_name)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + _CRL_LIFETIME)
    )
    for entry in entries:
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


class DevPki:
    """A dev PKI on disk. ``DevPki.init(dir)`` creates one; ``DevPki.open(dir)`` reuses it."""

    def __init__(
        self,
        directory: Path,
        root_key: PrivateKey,
        root_cert: x509.Certificate,
        intermediate: tuple[PrivateKey, x509.Certificate] | None = None,
    ) -> None:
        self.directory = directory
        self.root_key = root_key
        self.root_cert = root_cert
        #: The issuing sub-CA, when the PKI was made with one (``init(intermediate=True)``).
        self.intermediate_cert = intermediate[1] if intermediate else None
        #: Who signs agency certificates and ``crl.pem``: the sub-CA if any, else the root.
        self.issuer_key, self.issuer_cert = intermediate or (root_key, root_cert)
        self._signers: dict[str, Signer] = {}

    # --- layout -------------------------------------------------------------------

    @property
    def root_dir(self) -> Path:
        return self.directory / "root"

    @property
    def root_cert_path(self) -> Path:
        return self.root_dir / "cert.pem"

    @property
    def root_key_path(self) -> Path:
        return self.root_dir / "key.pem"

    @property
    def crl_path(self) -> Path:
        """The issuing CA's CRL: the one that lists revoked agency certificates."""
        return self.directory / "crl.pem"

    @property
    def intermediate_dir(self) -> Path:
        return self.directory / "intermediate"

    @property
    def root_crl_path(self) -> Path:
        """With a sub-CA, the root's own CRL (which would list a revoked sub-CA)."""
        return self.root_dir / "crl.pem"

    def agency_dir(self, slot: str) -> Path:
        if not slot or "/" in slot or "\\" in slot or slot in {".", ".."}:
            raise PkiError(f"{slot!r} cannot name an agency directory")
        return self.directory / "agencies" / slot

    def paths(self, slot: str) -> IssuedAgency:
        """Key and certificate paths of an issued agency (by code, or by its slot)."""
        folder = self.agency_dir(slot)
        return IssuedAgency(slot, folder / "key.pem", folder / "cert.pem")

    def agencies(self) -> list[str]:
        """Every slot under ``agencies/`` that holds a certificate, sorted."""
        base = self.directory / "agencies"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "cert.pem").is_file())

    # --- creation -----------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path | str,
        *,
        name: str = _ROOT_NAME,
        valid_days: int = 3650,
        key_type: KeyType = KeyType.RSA,
        rsa_bits: int = 2048,
        exist_ok: bool = False,
        not_before: datetime | None = None,
        intermediate: bool = False,
    ) -> DevPki:
        """Create the root CA and an empty CRL. With ``exist_ok``, reuse an existing root.

        The root is valid from a day back by default (``not_before``), so that tests and
        demos can sign and audit "as of" a recent past time. ``intermediate`` adds an
        issuing sub-CA under ``DIR/intermediate/``, as government CAs issue through one:
        agency certificates then carry it in their ``cert.pem`` (and so in ``KeyInfo``).
        """
        directory = Path(directory)
        if (directory / "root" / "cert.pem").exists():
            if exist_ok:
                return cls.open(directory)
            raise PkiError(f"a dev PKI already exists in {directory}")
        key = _new_key(key_type, rsa_bits)
        now = datetime.now(UTC)
        start, end = not_before or now - timedelta(days=1), now + timedelta(days=valid_days)
        cert = _ca_certificate(_ca_name(name), key, key, _ca_name(name), start, end, 1)
        sub_ca: tuple[PrivateKey, x509.Certificate] | None = None
        if intermediate:
            sub_key = _new_key(key_type, rsa_bits)
            sub_name = _ca_name(f"{name} - issuing CA")
            sub_cert = _ca_certificate(sub_name, sub_key, key, cert.subject, start, end, 0)
            sub_ca = (sub_key, sub_cert)
        pki = cls(directory, key, cert, sub_ca)
        _write_private(pki.root_key_path, key)
        _write_public(pki.root_cert_path, _pem(cert))
        if sub_ca is not None:
            _write_private(pki.intermediate_dir / "key.pem", sub_ca[0])
            _write_public(pki.intermediate_dir / "cert.pem", _pem(sub_ca[1]))
            _write_public(pki.root_crl_path, _crl_pem(key, cert.subject, []))
        pki.publish_crl()
        return pki

    @classmethod
    def open(cls, directory: Path | str) -> DevPki:
        """Open an existing dev PKI (its root, and its sub-CA if it has one)."""
        directory = Path(directory)
        cert_path, key_path = directory / "root" / "cert.pem", directory / "root" / "key.pem"
        if not cert_path.is_file() or not key_path.is_file():
            raise PkiError(f"no dev PKI in {directory} (run: edx pki init {directory})")
        sub_ca = None
        if (directory / "intermediate" / "cert.pem").is_file():
            sub_ca = (
                load_private_key(directory / "intermediate" / "key.pem"),
                load_certificate_file(directory / "intermediate" / "cert.pem")[0],
            )
        root_key = load_private_key(key_path)
        return cls(directory, root_key, load_certificate_file(cert_path)[0], sub_ca)

    def issue(
        self,
        code: str,
        name: str | None = None,
        *,
        slot: str | None = None,
        key_type: KeyType = KeyType.RSA,
        rsa_bits: int = 2048,
        valid_days: int = 730,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        signing_usage: bool = True,
        bind_agency: bool = True,
        replace: bool = False,
        extended_usages: Sequence[x509.ObjectIdentifier] = (),
    ) -> tuple[Path, Path]:
        """Issue an agency certificate and key; returns ``(key_path, cert_path)``.

        ``slot`` names the directory under ``agencies/`` (the code by default), so a
        test can hold several certificates of one agency. ``not_before``/``not_after``
        make expired or not-yet-valid certificates; ``signing_usage=False`` one that may
        only encipher; ``bind_agency=False`` one without the ``UID`` agency code;
        ``extended_usages`` adds an extended key usage extension with those purposes.
        """
        code = code.strip()
        if not code:
            raise PkiError("an agency code is required")
        target = self.paths(slot or code)
        if target.cert_path.exists() and not replace:
            raise PkiError(
                f"agency {slot or code} already has a certificate in {target.cert_path.parent}"
            )
        key = _new_key(key_type, rsa_bits)
        now = datetime.now(UTC)
        start = not_before or now - timedelta(hours=1)
        end = not_after or start + timedelta(days=valid_days)
        if end <= start:
            raise PkiError("a certificate must end after it starts")
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name or f"Agency {code}"),
            x509.NameAttribute(NameOID.COMMON_NAME, name or code),
        ]
        if bind_agency:
            attributes.append(x509.NameAttribute(AGENCY_CODE_OID, code))
        public = key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.issuer_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                key_usage(
                    digital_signature=signing_usage,
                    content_commitment=signing_usage,
                    key_encipherment=not signing_usage,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuer_key.public_key()),
                critical=False,
            )
        )
        if extended_usages:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(extended_usages)), critical=False
            )
        cert = builder.sign(self.issuer_key, hashes.SHA256())
        _write_private(target.key_path, key)
        chain = [cert] if self.intermediate_cert is None else [cert, self.intermediate_cert]
        _write_public(target.cert_path, b"".join(_pem(c) for c in chain))
        self._signers.pop(slot or code, None)
        return target.key_path, target.cert_path

    def certificate(self, slot: str) -> x509.Certificate:
        """The certificate issued to an agency (by code or slot)."""
        path = self.paths(slot).cert_path
        if not path.is_file():
            raise PkiError(f"no certificate issued to {slot} in {self.directory}")
        return load_certificate_file(path)[0]

    def signer(self, slot: str) -> Signer:
        """A loaded :class:`Signer` for an issued agency, cached: keys are loaded once."""
        signer = self._signers.get(slot)
        if signer is None:
            paths = self.paths(slot)
            if not paths.cert_path.is_file():
                raise PkiError(f"no certificate issued to {slot} in {self.directory}")
            signer = Signer.from_files(paths.key_path, paths.cert_path)
            self._signers[slot] = signer
        return signer

    def export_pkcs12(self, slot: str, target: Path | str, password: bytes) -> Path:
        """Write an agency's key, certificate and CA chain as one PKCS#12 bundle
        (``.p12``), the form office software and key stores import."""
        if not password:
            raise PkiError("a PKCS#12 bundle needs a passphrase")
        paths = self.paths(slot)
        if not paths.cert_path.is_file():
            raise PkiError(f"no certificate issued to {slot} in {self.directory}")
        certs = load_certificate_file(paths.cert_path)
        cas = [*certs[1:], self.root_cert]
        data = pkcs12.serialize_key_and_certificates(
            slot.encode("utf-8"),
            load_private_key(paths.key_path),
            certs[0],
            cas,
            serialization.BestAvailableEncryption(password),
        )
        target = Path(target)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return target

    # --- revocation ---------------------------------------------------------------

    def revoke(self, slot: str, *, at: datetime | None = None) -> Path:
        """Add an agency's certificate to the CRL and publish it; returns the CRL path."""
        cert = self.certificate(slot)
        when = at or datetime.now(UTC)
        entries = [e for e in self._revoked() if e.serial_number != cert.serial_number]
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(when)
            .build()
        )
        return self.publish_crl([*entries, entry])

    def _revoked(self) -> list[x509.RevokedCertificate]:
        if not self.crl_path.is_file():
            return []
        return list(x509.load_pem_x509_crl(self.crl_path.read_bytes()))

    def revoked_serials(self) -> set[int]:
        """Serial numbers the current CRL lists."""
        return {entry.serial_number for entry in self._revoked()}

    def publish_crl(self, entries: list[x509.RevokedCertificate] | None = None) -> Path:
        """Sign and write ``crl.pem`` (the issuing CA's) with the given entries (the
        current ones by default)."""
        chosen = self._revoked() if entries is None else entries
        _write_public(self.crl_path, _crl_pem(self.issuer_key, self.issuer_cert.subject, chosen))
        return self.crl_path

    # --- trust --------------------------------------------------------------------

    def trust_store(self, *, with_crl: bool = True) -> TrustStore:
        """The root as the one trust anchor (the sub-CA as an intermediate), with the
        current CRLs."""
        paths = [self.crl_path, self.root_crl_path] if with_crl else []
        crls = [x509.load_pem_x509_crl(p.read_bytes()) for p in paths if p.is_file()]
        intermediates = () if self.intermediate_cert is None else (self.intermediate_cert,)
        return TrustStore((self.root_cert,), intermediates, tuple(crls))
