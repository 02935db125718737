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
from edxml import DocumentPackage, Mode, StatusPackage
from edxml.errors import EdxbusError, MalformedXmlError, PackageTooLargeError
from signing import Verifier

__all__ = ["CheckedPackage", "PackageChecker", "Read", "Refused", "Unread"]

log = logging.getLogger("bus.router")


@dataclass(frozen=True)
class CheckedPackage:
    """A package that passed every check that needs no memory of earlier packages."""

    package: DocumentPackage | StatusPackage
    #: The sending agency, as the signature proves it.
    sender: str
    #: SHA-256 fingerprint of the certificate that signed it.
    fingerprint: str
    digest: str
    raw: bytes  # the submitted bytes, unchanged: copied to inboxes as they are

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


@dataclass(frozen=True)
class Read:
    """What the signature proves and the strict parse read, before the directory.

    Plain values only, so a worker process can hand it back.
    """

    package: DocumentPackage | StatusPackage
    agency_code: str
    fingerprint: str


@dataclass(frozen=True)
class Unread:
    """A record the signature or the parse refuses; ``agency_code`` and
    ``fingerprint`` say whose signature verified before the refusal, if any."""

    error: EdxbusError
    agency_code: str | None = None
    fingerprint: str | None = None


class PackageChecker:
    """Verifies, parses and checks packages against a trust store and a directory.

    Two halves: :meth:`read` is the CPU work (size, signature, strict parse,
    sender binding) and needs nothing but the trust store, so it may run in a
    worker process; :meth:`judge` holds what was read against the directory.
    """

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
        return self.judge(data, self.read(data), directory)

    def read(self, data: bytes | None) -> Read | Unread:
        """Size, signature and strict parse of what it covers (``Verifier.read``: one tree).

        A refusal says whose signature verified first, if any: only a refusal
        someone verifiably signed earns a notice.
        """
        if not data:
            return Unread(MalformedXmlError("the record carries no package (empty value)"))
        if len(data) > self.max_package_bytes:
            return Unread(PackageTooLargeError(self.max_package_bytes, len(data)))
        try:
            read = self.verifier.read(data, mode=Mode.STRICT, agency_pattern=self.agency_pattern)
        except EdxbusError as error:
            _raise_retriable(error)
            return self._refused_after(data, error)
        except Exception as exc:  # a record no library can read must not stop routing
            return self._refused_after(data, _unreadable(exc))
        package = read.package
        if not isinstance(package, DocumentPackage | StatusPackage):
            return Unread(
                MalformedXmlError("the record carries no document or status package"),
                read.verified.agency_code,
                read.verified.fingerprint,
            )
        return Read(package, read.verified.agency_code, read.verified.fingerprint)

    def _refused_after(self, data: bytes, error: EdxbusError) -> Unread:
        """The refusal, with the signer when the signature itself verifies (the parse or
        the sender binding refused): verified again on this rare path only."""
        try:
            verified = self.verifier.verify(data)
        except Exception:
            return Unread(error)
        return Unread(error, verified.agency_code, verified.fingerprint)

    def judge(
        self, data: bytes | None, read: Read | Unread, directory: AgencyDirectory
    ) -> CheckedPackage | Refused:
        """What was read, held against the directory: sender, certificate, recipients."""
        if isinstance(read, Unread):
            return Refused(read.error, _bound_signer(read.agency_code, read.fingerprint, directory))
        assert data is not None
        try:
            package = read.package
            sender = directory.require(package.sender_code, "sender")
            if sender.cert_fingerprints and read.fingerprint not in sender.cert_fingerprints:
                raise CertificateNotListedError(sender.code, read.fingerprint)
            if isinstance(package, DocumentPackage):
                for recipient in package.recipient_codes:
                    directory.require(recipient, "recipient")
        except EdxbusError as error:
            _raise_retriable(error)
            return Refused(error, _bound_signer(read.agency_code, read.fingerprint, directory))
        return CheckedPackage(
            package, read.agency_code, read.fingerprint, content_digest(data), data
        )


def _bound_signer(
    agency_code: str | None, fingerprint: str | None, directory: AgencyDirectory
) -> str | None:
    """The agency a verified signature can be held to: its certificate's agency, when
    the directory knows that agency and lists the certificate (or lists none)."""
    if agency_code is None:
        return None
    agency = directory.get(agency_code)
    if agency is None:
        return None
    if agency.cert_fingerprints and fingerprint not in agency.cert_fingerprints:
        return None
    return agency.code


def _raise_retriable(error: EdxbusError) -> None:
    if getattr(error, "retriable", False):
        raise error


def _unreadable(exc: Exception) -> MalformedXmlError:
    """A named refusal for bytes a library failed on without a named error of ours."""
    log.error("a record could not be read", exc_info=exc)
    return MalformedXmlError(f"the record cannot be read ({type(exc).__name__})")
