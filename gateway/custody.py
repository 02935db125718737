"""Custody signing: the gateway signs for its agencies, as an X-Road security server does.

What a system hands over is one of three things:

- a package that already carries a signature: it must verify for the agency it names
  as sender, and it then travels unchanged, byte for byte;
- an unsigned package in the strict form: the gateway signs it with the agency's key
  (``$EDX_PKI/agencies/CODE/``);
- an unsigned package as the field's builders make it (stray bytes, element order, the
  quirks of a tolerant read): it is rebuilt into the strict form and then signed, and
  what changed is recorded. What cannot be rebuilt is refused with the reason.

The sender must be an agency the calling system serves; that is checked before any
key is used. An agency's credentials are ``key.pem`` + ``cert.pem`` in
``$EDX_PKI/agencies/CODE/`` (as ``edx pki`` writes them) or, as CAs hand them out, a
PKCS#12 bundle ``agency.p12`` there with its passphrase in ``agency.p12.pass``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bus import Settings
from edxml import DocumentPackage, Limits, Mode, ParseResult, StatusPackage, build, parse
from edxml.errors import EdxbusError
from gateway.errors import NotPermittedError, PackageRefusedError
from gateway.systems import System
from signing import Signer, Verifier

__all__ = ["Custody", "CustodyResult"]


@dataclass(frozen=True)
class CustodyResult:
    """A package ready to publish: the bytes, what they say, and how they were made."""

    data: bytes
    package: DocumentPackage | StatusPackage
    signed_here: bool
    changes: tuple[str, ...] = ()

    @property
    def sender(self) -> str:
        """The agency the package speaks for."""
        return self.package.sender_code


class Custody:
    """Signs for the agencies of a gateway; keys are loaded once per agency."""

    def __init__(
        self,
        settings: Settings,
        verifier: Verifier,
        *,
        key_paths: Callable[[str], tuple[Path, Path]] | None = None,
    ) -> None:
        self._settings = settings
        self._verifier = verifier
        self._key_paths = key_paths or settings.agency_key_paths
        self._signers: dict[str, Signer] = {}

    @property
    def limits(self) -> Limits:
        """The package limits every read uses."""
        return self._settings.packages.limits

    def kept_document(self, data: bytes) -> DocumentPackage:
        """A document the gateway keeps (accepted once), read back."""
        package = parse(data, mode=Mode.TOLERANT, limits=self.limits).package
        assert isinstance(package, DocumentPackage)
        return package

    def _read(self, data: bytes, mode: Mode) -> ParseResult:
        """``data`` read in ``mode`` with the gateway's limits and agency codes."""
        return parse(
            data,
            mode=mode,
            limits=self.limits,
            agency_pattern=self._settings.packages.agency_pattern,
        )

    def signer(self, agency: str) -> Signer:
        """The agency's signer; refused when the gateway holds no key for it."""
        signer = self._signers.get(agency)
        if signer is not None:
            return signer
        key, cert = self._key_paths(agency)
        bundle = key.with_name("agency.p12")
        try:
            if key.is_file() and cert.is_file():
                signer = Signer.from_files(key, cert)
            elif bundle.is_file():
                passphrase = bundle.with_name("agency.p12.pass")
                secret = passphrase.read_bytes().strip() if passphrase.is_file() else None
                signer = Signer.from_pkcs12(bundle, password=secret)
            else:
                raise NotPermittedError(f"the gateway holds no signing key for agency {agency}")
        except EdxbusError as exc:
            if isinstance(exc, NotPermittedError):
                raise
            raise NotPermittedError(f"the key of agency {agency} cannot be used: {exc}") from exc
        if signer.agency_code != agency:
            raise NotPermittedError(f"the certificate kept for {agency} names {signer.agency_code}")
        self._signers[agency] = signer
        return signer

    def take(self, body: bytes, system: System) -> CustodyResult:
        """The package to publish for ``body`` sent by ``system`` (see the module docstring)."""
        try:  # the strict read first: what well-built software sends needs no second read
            tolerant = self._read(body, Mode.STRICT)
            strict_ok = True
        except EdxbusError:
            strict_ok = False
            try:
                tolerant = self._read(body, Mode.TOLERANT)
            except EdxbusError as exc:
                raise PackageRefusedError(
                    f"the package cannot be read: {exc}", exc.reason_code
                ) from exc
        sender = tolerant.package.sender_code
        if not system.serves(sender):
            raise NotPermittedError(
                f"system {system.system_id} does not act for agency {sender or '(none)'}"
            )
        if tolerant.signature.present:
            return self._signed(body, sender)
        if strict_ok:
            return self._sign(body, sender, tolerant.package, ())
        return self._unsigned(body, sender, tolerant.package, tolerant.deviations)

    def _signed(self, body: bytes, sender: str) -> CustodyResult:
        try:
            verified = self._verifier.verify(body)
            strict = self._read(verified.signed_bytes, Mode.STRICT)
        except EdxbusError as exc:
            raise PackageRefusedError(
                f"the package's signature does not verify: {exc}", exc.reason_code
            ) from exc
        if verified.agency_code != sender:
            raise PackageRefusedError(
                f"the package is signed by {verified.agency_code} but sent as {sender}",
                "sender-mismatch",
            )
        return CustodyResult(body, strict.package, signed_here=False)

    def _unsigned(
        self,
        body: bytes,
        sender: str,
        package: DocumentPackage | StatusPackage,
        deviations: tuple[object, ...],
    ) -> CustodyResult:
        changes = tuple(str(d) for d in deviations) or ("rebuilt in the strict form",)
        try:
            unsigned = build(package)
            strict = self._read(unsigned, Mode.STRICT)
        except EdxbusError as exc:
            raise PackageRefusedError(
                f"the package cannot be brought into the strict form: {exc}",
                exc.reason_code,
            ) from exc
        return self._sign(unsigned, sender, strict.package, changes)

    def _sign(
        self,
        unsigned: bytes,
        sender: str,
        package: DocumentPackage | StatusPackage,
        changes: tuple[str, ...],
    ) -> CustodyResult:
        signer = self.signer(sender)
        try:
            signed = signer.sign(unsigned, check_sender=True, limits=self.limits)
        except EdxbusError as exc:
            raise PackageRefusedError(
                f"the package cannot be signed: {exc}", exc.reason_code
            ) from exc
        return CustodyResult(signed, package, signed_here=True, changes=changes)
