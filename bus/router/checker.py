"""Check: is a submitted record a package the bus may route? (DESIGN.md §4)

Order: size, signature (against the trust store and CRL), strict parse of *only
what the signature covers*, the sender binding (header sender = certificate's
agency), then the directory (the certificate is listed for the sender, and the
sender and every recipient exist and are active). Each failure is the named
error whose ``reason_code`` travels to the dead-letter topic and the sender.
Signature and parse go through the one read path of the deployment
(:class:`bus.verification.PackageReader`), so the router can never read bytes
differently from an inbox or an auditor.

Nothing here remembers earlier packages: whether a package is new, a retry or a
replay, and whether a status may go where it asks, is the decider's question
(:mod:`bus.router.decider`).

A refusal says who it can be held to (:class:`Refused`): the agency whose
certificate, bound to it by the directory, made a signature that verifies. Only
that agency is told in its inbox; a record nobody verifiably signed (garbage, a
forged key, a code someone else's key claims) is nobody's to be told about, so
hostile traffic keyed with a victim's code cannot fill the victim's inbox.

Two classes: :class:`PackageChecker` checks one record and is pure (a reader and
a directory in, a verdict out); :class:`BatchChecker` checks a batch with the CPU
at hand (worker processes, else threads) and reads the directory again before
refusing anyone over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bus.directory import AgencyDirectory
from bus.errors import CertificateNotListedError, InactiveAgencyError, UnknownAgencyError
from bus.records import content_digest
from bus.verification import PackageReader
from edxml import DocumentPackage, StatusPackage
from edxml.errors import EdxbusError, MalformedXmlError, PackageTooLargeError

__all__ = [
    "BatchChecker",
    "CheckedPackage",
    "FollowedDirectory",
    "PackageChecker",
    "Read",
    "ReadPool",
    "Refused",
    "Unread",
]

log = logging.getLogger("bus.router")

#: Threads checking one batch when no worker process reads it: one per core
#: (signxml holds the GIL for much of a verification, so more only take turns).
CHECK_THREADS = max(1, min(4, os.cpu_count() or 1))
#: Refusals that a directory record written a moment ago may lift.
_DIRECTORY_REFUSALS = (UnknownAgencyError, InactiveAgencyError)


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
    """Checks one record: the reader's verdict, then the directory's.

    Two halves: :meth:`read` is the CPU work (size, signature, strict parse,
    sender binding) and needs nothing but the reader, so it may run in a worker
    process; :meth:`judge` holds what was read against a directory.
    """

    def __init__(self, reader: PackageReader, *, max_package_bytes: int) -> None:
        self.reader = reader
        self.max_package_bytes = max_package_bytes

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
        """Size, then signature and strict parse of what it covers (one tree).

        A refusal says whose signature verified first, if any: only a refusal
        someone verifiably signed earns a notice.
        """
        if not data:
            return Unread(MalformedXmlError("the record carries no package (empty value)"))
        if len(data) > self.max_package_bytes:
            return Unread(PackageTooLargeError(self.max_package_bytes, len(data)))
        try:
            read = self.reader.read(data)
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
            verified = self.reader.verifier.verify(data)
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


class ReadPool(Protocol):
    """Processes that run :meth:`PackageChecker.read` (:class:`bus.router.workers.CheckPool`)."""

    @property
    def ready(self) -> bool:
        """Every worker answered once: batches may go to them."""

    async def start(self) -> set[int]:
        """Start the workers and wait until they answer."""

    async def read(self, values: Sequence[bytes | None]) -> list[Read | Unread]:
        """Read a batch; results in batch order."""

    def close(self) -> None:
        """Stop the workers."""


class FollowedDirectory(Protocol):
    """A directory kept in step with ``edx.agencies`` (:class:`bus.directory.DirectoryFollower`)."""

    @property
    def directory(self) -> AgencyDirectory:
        """The directory as far as it has been read."""

    async def refresh(self) -> AgencyDirectory:
        """Read the directory to its current end."""


class BatchChecker:
    """Checks the records of one batch side by side; verdicts come back in batch order.

    The reads (signature, parse) need no memory of other packages, so they run
    in parallel: on ``pool``'s worker processes once they answer, else on one
    thread per core here, each taking a contiguous share. The directory checks
    run here, in order, against the directory ``directory`` follows. A refusal
    over an unknown or inactive agency is checked once more after reading the
    directory to its end: an agency registered (or reinstated) a moment ago is
    not refused over a record the follower had not applied yet.
    """

    def __init__(
        self,
        checker: PackageChecker,
        directory: FollowedDirectory,
        pool: ReadPool | None = None,
        *,
        threads: int = CHECK_THREADS,
    ) -> None:
        self.checker = checker
        self._directory = directory
        self._pool = pool
        self._threads = max(1, threads)
        #: The workers' start, begun at the first batch.
        self._warming: asyncio.Future[set[int]] | None = None

    @property
    def workers_ready(self) -> bool:
        """The worker processes answer, and batches are read on them (not here)."""
        return self._pool is not None and self._pool.ready

    async def check(self, values: Sequence[bytes | None]) -> list[CheckedPackage | Refused]:
        """Each value checked: the package, or the refusal and who it can be held to."""
        outcomes = await self._check_all(values)
        stale = [
            i
            for i, o in enumerate(outcomes)
            if isinstance(o, Refused) and isinstance(o.error, _DIRECTORY_REFUSALS)
        ]
        if stale:
            await self._directory.refresh()
            directory = self._directory.directory
            for i in stale:
                outcomes[i] = await asyncio.to_thread(self.checker.outcome, values[i], directory)
        return outcomes

    async def warm(self) -> bool:
        """Start the worker processes now and wait until they answer (benchmarks, tools:
        a router starts them at its first batch). Whether batches are now read on them."""
        pool = self._pool
        if pool is None:
            return False
        self._warm(pool)
        assert self._warming is not None
        with contextlib.suppress(Exception):  # logged by _warm_outcome: read here then
            await asyncio.shield(self._warming)
        return pool.ready

    async def close(self) -> None:
        """Stop the workers' start if it is still running, then the workers."""
        warming, self._warming = self._warming, None
        if warming is not None and not warming.done():
            warming.cancel()
            with contextlib.suppress(BaseException):  # cancelled: it may end any way
                await warming
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.close)

    async def _check_all(self, values: Sequence[bytes | None]) -> list[CheckedPackage | Refused]:
        pool = self._pool
        if pool is not None and not pool.ready:
            self._warm(pool)
        if pool is not None and pool.ready:
            reads = await pool.read(values)
            directory = self._directory.directory
            return [
                self.checker.judge(value, read, directory)
                for value, read in zip(values, reads, strict=True)
            ]
        share = -(-len(values) // self._threads)
        chunks = [values[i : i + share] for i in range(0, len(values), share)]
        results = await asyncio.gather(
            *(asyncio.to_thread(self._check_here, chunk) for chunk in chunks)
        )
        return [outcome for chunk in results for outcome in chunk]

    def _check_here(self, values: Sequence[bytes | None]) -> list[CheckedPackage | Refused]:
        directory = self._directory.directory
        return [self.checker.outcome(value, directory) for value in values]

    def _warm(self, pool: ReadPool) -> None:
        """Start the worker processes in the background at the first batch.

        Not at start: spawning them (imports, trust store) takes a core for a
        second or two, which a router restarted after a crash needs for its own
        start and its first batch. Until they answer, batches are read here.
        """
        if self._warming is not None:
            return
        self._warming = asyncio.ensure_future(pool.start())
        self._warming.add_done_callback(_warm_outcome)


def _warm_outcome(future: asyncio.Future[set[int]]) -> None:
    """A pool that failed to start leaves the router reading batches itself: say so."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.warning("router workers did not start: packages are read in the router: %s", error)


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
