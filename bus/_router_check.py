"""The router's checks on one submitted package, before anything is written.

Order (DESIGN.md §4): size, signature (against the trust store and CRL), strict
parse of *only what the signature covers*, the sender binding (header sender =
certificate's agency, certificate listed in the directory), the directory
(sender and every recipient exist and are active). Each failure is the named
error whose ``reason_code`` travels to the dead-letter topic and the sender.

Whether the package is a retry, a replay, or a status its sender may send is
decided afterwards against the acceptance store (:mod:`bus.router`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.directory import AgencyDirectory
from bus.errors import CertificateNotListedError
from bus.records import content_digest
from edxml import DocumentPackage, Mode, StatusPackage, parse
from edxml.errors import MalformedXmlError, PackageTooLargeError
from signing import SenderMismatchError, VerifiedPackage, Verifier

__all__ = ["CheckedPackage", "PackageChecker"]


@dataclass(frozen=True)
class CheckedPackage:
    """A package that passed every check that needs no memory of earlier packages."""

    package: DocumentPackage | StatusPackage
    verified: VerifiedPackage
    digest: str
    raw: bytes  # the submitted bytes, unchanged: copied to inboxes as they are

    @property
    def sender(self) -> str:
        """The sending agency, as the signature proves it."""
        return self.verified.agency_code

    @property
    def is_status(self) -> bool:
        return isinstance(self.package, StatusPackage)


class PackageChecker:
    """Verifies, parses and checks packages against a trust store and a directory."""

    def __init__(
        self, verifier: Verifier, *, max_package_bytes: int, agency_pattern: str | None = None
    ) -> None:
        self.verifier = verifier
        self.max_package_bytes = max_package_bytes
        self.agency_pattern = agency_pattern

    def check(self, data: bytes | None, directory: AgencyDirectory) -> CheckedPackage:
        """Run every check; raise the first failure's named error."""
        if not data:
            raise MalformedXmlError("the record carries no package (empty value)")
        if len(data) > self.max_package_bytes:
            raise PackageTooLargeError(self.max_package_bytes, len(data))
        verified = self.verifier.verify(data)
        package = parse(
            verified.signed_bytes,
            mode=Mode.STRICT,
            limits=self.verifier.limits,
            agency_pattern=self.agency_pattern,
        ).package
        if package.sender_code != verified.agency_code:
            raise SenderMismatchError(package.sender_code or "(none)", verified.agency_code)
        sender = directory.require(package.sender_code, "sender")
        if sender.cert_fingerprints and verified.fingerprint not in sender.cert_fingerprints:
            raise CertificateNotListedError(sender.code, verified.fingerprint)
        if isinstance(package, DocumentPackage):
            for recipient in package.recipient_codes:
                directory.require(recipient, "recipient")
        return CheckedPackage(package, verified, content_digest(data), data)
