"""The router's checks on one submitted package, before anything is written.

Order (DESIGN.md §4): size, signature (against the trust store and CRL), strict
parse of *only what the signature covers*, the sender binding (header sender =
certificate's agency, certificate listed in the directory), the directory
(sender and every recipient exist and are active). Each failure is the named
error whose ``reason_code`` travels to the dead-letter topic and the sender.

Whether the package is a retry, a replay, or a status its sender may send is
decided afterwards against the acceptance store (:mod:`bus.router`).

A refusal says who it can be held to (:class:`Refused`): the agency whose
certificate, bound to it by the directory, made a signature that verifies. Only
that agency is told in its inbox; a record nobody verifiably signed (garbage, a
forged key, a code someone else's key claims) is nobody's to be told about, so
hostile traffic keyed with a victim's code cannot fill the victim's inbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bus.directory import AgencyDirectory
from bus.errors import CertificateNotListedError
from bus.records import content_digest
from edxml import DocumentPackage, Mode, StatusPackage, parse
from edxml.errors import EdxbusError, MalformedXmlError, PackageTooLargeError
from signing import SenderMismatchError, VerifiedPackage, Verifier

__all__ = ["CheckedPackage", "PackageChecker", "Refused"]

log = logging.getLogger("bus.router")


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


@dataclass(frozen=True)
class Refused:
    """A record the checks refuse, and the agency it can be held to, if any."""

    error: EdxbusError
    #: The agency whose directory-bound certificate verifiably signed the record;
    #: None when no one can be held to it (unsigned, unverifiable, unbound key).
    signer: str | None = None


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
        outcome = self.outcome(data, directory)
        if isinstance(outcome, Refused):
            raise outcome.error
        return outcome

    def outcome(self, data: bytes | None, directory: AgencyDirectory) -> CheckedPackage | Refused:
        """Run every check: the checked package, or the first refusal and its signer.

        A retriable error (the broker, the database) is raised, not returned.
        """
        if not data:
            return Refused(MalformedXmlError("the record carries no package (empty value)"))
        if len(data) > self.max_package_bytes:
            return Refused(PackageTooLargeError(self.max_package_bytes, len(data)))
        try:
            verified = self.verifier.verify(data)
        except EdxbusError as error:
            _raise_retriable(error)
            return Refused(error)
        except Exception as exc:  # a record no library can read must not stop routing
            return Refused(_unreadable(exc))
        try:
            return self._after_signature(data, verified, directory)
        except EdxbusError as error:
            _raise_retriable(error)
            return Refused(error, _bound_signer(verified, directory))
        except Exception as exc:
            return Refused(_unreadable(exc), _bound_signer(verified, directory))

    def _after_signature(
        self, data: bytes, verified: VerifiedPackage, directory: AgencyDirectory
    ) -> CheckedPackage:
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


def _bound_signer(verified: VerifiedPackage, directory: AgencyDirectory) -> str | None:
    """The agency a verified signature can be held to: its certificate's agency, when
    the directory knows that agency and lists the certificate (or lists none)."""
    agency = directory.get(verified.agency_code)
    if agency is None:
        return None
    if agency.cert_fingerprints and verified.fingerprint not in agency.cert_fingerprints:
        return None
    return agency.code


def _raise_retriable(error: EdxbusError) -> None:
    if getattr(error, "retriable", False):
        raise error


def _unreadable(exc: Exception) -> MalformedXmlError:
    """A named refusal for bytes a library failed on without a named error of ours."""
    log.error("a record could not be read", exc_info=exc)
    return MalformedXmlError(f"the record cannot be read ({type(exc).__name__})")
