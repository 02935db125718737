"""RFC 3161 time-stamps: requests, a development time-stamping authority, token checks.

A checkpoint says what the log held; a time-stamp token from an authority the
operator does not control says *when*. The structures are asn1crypto's ``tsp`` and
``cms`` definitions, the signatures ``cryptography``'s; nothing is hand-encoded.
Tokens carry what ``openssl ts -verify`` requires: the TSA certificate, an ESS
``signingCertificateV2`` attribute naming it, and a certificate whose only
extended key usage, marked critical, is ``timeStamping``.

The development TSA (:class:`DevTsa`) is for the embedded default and tests: its
certificate is issued by the dev PKI's root and kept beside it::

    PKI/tsa/cert.pem    the TSA certificate (EKU timeStamping, critical)
    PKI/tsa/key.pem     its private key (mode 0600)

:func:`verify_timestamp` checks a reply offline with nothing but trust anchors.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing._key_usage import key_usage
from signing.certificates import load_certificate_file, load_private_key
from signing.errors import PkiError
from signing.tlog_errors import TimestampError

__all__ = [
    "DEV_TSA_POLICY",
    "DevTsa",
    "TimestampInfo",
    "timestamp_request",
    "verify_timestamp",
]

#: The policy the development TSA stamps under (an arbitrary OID of the private arc).
DEV_TSA_POLICY = "1.3.6.1.4.1.57264.1.1"
_TSA_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token says: when, by whom, under which policy, with which serial."""

    gen_time: datetime
    serial_number: int
    policy: str
    tsa_subject: str


def timestamp_request(data: bytes, *, nonce: int | None = None) -> bytes:
    """A DER TimeStampReq over SHA-256(``data``), asking for the TSA's certificate."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(data).digest(),
            },
            "nonce": nonce if nonce is not None else secrets.randbits(63),
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def _signature_algorithm(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return "sha256_ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else "sha256_rsa"


def _sign(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


class DevTsa:
    """A development time-stamping authority: answers TimeStampReq with signed tokens."""

    def __init__(
        self, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cert: x509.Certificate
    ) -> None:
        self._key = key
        self.cert = cert
        self._cert_asn1 = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    @classmethod
    def from_pki(cls, pki_dir: Path) -> DevTsa:
        """The dev TSA under ``pki_dir/tsa``, issued by the dev root on first use."""
        tsa_dir = pki_dir / "tsa"
        cert_path, key_path = tsa_dir / "cert.pem", tsa_dir / "key.pem"
        if cert_path.exists() and key_path.exists():
            key = load_private_key(key_path)
            return cls(key, load_certificate_file(cert_path)[0])
        root_cert_path, root_key_path = pki_dir / "root" / "cert.pem", pki_dir / "root" / "key.pem"
        if not (root_cert_path.exists() and root_key_path.exists()):
            raise PkiError(
                f"no dev PKI root under {pki_dir} to issue the development TSA's certificate "
                "(set EDX_TSA_URL to a time-stamping authority)"
            )
        root_key = load_private_key(root_key_path)
        root_cert = load_certificate_file(root_cert_path)[0]
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, "edxbus development TSA"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edxbus"),
                    ]
                )
            )
            .issuer_name(root_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _TSA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                key_usage(digital_signature=True, content_commitment=True), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        tsa_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert)

    def respond(self, request_der: bytes, *, now: datetime | None = None) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq (a rejection reply if unusable)."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            hashed = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "the request is not a DER TimeStampReq")
        if algorithm != "sha256" or len(hashed) != 32:
            return _rejection("bad_alg", "only SHA-256 message imprints are accepted")
        moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": DEV_TSA_POLICY,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashed,
                },
                "serial_number": secrets.randbits(63),
                "gen_time": moment,
                "accuracy": {"seconds": 1},
                "nonce": nonce,
                "tsa": asn1_x509.GeneralName(name="directory_name", value=self._cert_asn1.subject),
            }
        )
        content = info.dump()
        attributes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": moment})]},
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {"certs": [{"cert_hash": hashlib.sha256(self._cert_asn1.dump()).digest()}]}
                    ],
                },
            ]
        )
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._cert_asn1.issuer,
                            "serial_number": self._cert_asn1.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": attributes,
                "signature_algorithm": {"algorithm": _signature_algorithm(self._key)},
                "signature": _sign(self._key, attributes.dump()),
            }
        )
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(content),
                },
                "certificates": [self._cert_asn1] if cert_req else [],
                "signer_infos": [signer],
            }
        )
        if not cert_req:
            del signed["certificates"]
        reply = tsp.TimeStampResp(
            {
                "status": {"status": "granted"},
                "time_stamp_token": {"content_type": "signed_data", "content": signed},
            }
        )
        return bytes(reply.dump())


class _Reply(core.Sequence):  # type: ignore[misc]
    """TimeStampResp with its token optional, as RFC 3161 §2.4.2 has it (asn1crypto's
    class insists on a token, which a rejection does not carry)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _rejection(failure: str, text: str) -> bytes:
    reply = _Reply(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({failure}),
            }
        }
    )
    return bytes(reply.dump())


def _verify_signature(cert: x509.Certificate, signature: bytes, data: bytes) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise TimestampError("the TSA key is neither EC nor RSA")
    except InvalidSignature as error:
        raise TimestampError("the time-stamp token's signature does not verify") from error


def _check_tsa_certificate(
    cert: x509.Certificate, anchors: Sequence[x509.Certificate], at: datetime
) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise TimestampError("the TSA certificate was not valid at the time-stamp's time")
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as error:
        raise TimestampError("the TSA certificate has no timeStamping key usage") from error
    if list(usage.value) != [ExtendedKeyUsageOID.TIME_STAMPING] or not usage.critical:
        raise TimestampError("the TSA certificate's only, critical key usage must be timeStamping")
    for anchor in anchors:
        if anchor == cert:
            return
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise TimestampError("the TSA certificate is not issued by a trust anchor")


def verify_timestamp(
    reply_der: bytes, data: bytes, anchors: Sequence[x509.Certificate]
) -> TimestampInfo:
    """Check a DER TimeStampResp over ``data`` against the trust ``anchors``, offline.

    Checks, in order: status granted; the imprint is SHA-256(``data``); the signed
    attributes' digest covers the TSTInfo; the signature by the certificate the
    token names; that certificate's timeStamping usage, validity at the token's
    time and issuer among the anchors.
    """
    try:
        reply = _Reply.load(reply_der)
        if reply["status"]["status"].native != "granted":
            raise TimestampError(f"the TSA refused: {reply['status']['status_string'].native}")
        token = reply["time_stamp_token"]
        signed = token["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampError("the token does not carry a TSTInfo")
        content = bytes(encap["content"].contents)
        info = tsp.TSTInfo.load(content)
        imprint = info["message_imprint"]
        signer = signed["signer_infos"][0]
        attributes = {attr["type"].native: attr["values"][0] for attr in signer["signed_attrs"]}
        signed_bytes = b"\x31" + bytes(signer["signed_attrs"].dump())[1:]
        signature = bytes(signer["signature"].native)
        serial = signer["sid"].chosen["serial_number"].native
        certs = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed["certificates"]
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise TimestampError(f"the time-stamp reply is not readable: {error}") from error
    if imprint["hash_algorithm"]["algorithm"].native != "sha256":
        raise TimestampError("the time-stamp is not over a SHA-256 imprint")
    if imprint["hashed_message"].native != hashlib.sha256(data).digest():
        raise TimestampError("the time-stamp is over other data than the checkpoint given")
    digest = attributes.get("message_digest")
    if digest is None or digest.native != hashlib.sha256(content).digest():
        raise TimestampError("the token's signed digest does not cover its TSTInfo")
    cert = next((c for c in certs if c.serial_number == serial), None)
    if cert is None:
        raise TimestampError("the token does not include the TSA certificate")
    _verify_signature(cert, signature, signed_bytes)
    gen_time: datetime = info["gen_time"].native
    _check_tsa_certificate(cert, anchors, gen_time)
    return TimestampInfo(
        gen_time=gen_time.astimezone(UTC),
        serial_number=int(info["serial_number"].native),
        policy=str(info["policy"].native),
        tsa_subject=cert.subject.rfc4514_string(),
    )
