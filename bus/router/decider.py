"""Decide: is a checked package new, a retry or a replay, and who gets it? (DESIGN.md §4)

The router's only memory is the acceptance store (:mod:`bus.acceptance`): what
each sender submitted under each key (a DocumentId, or a status's digest), with
which bytes, and which recipients have their copy. Against it:

- the same bytes again are a retry: delivered to whoever lacks them still;
- other bytes under a DocumentId already taken are a replay, refused;
- a status (01-16) goes to the document's original sender and only from one of
  the document's recipients; a take-back (13) only from the original sender, to
  every recipient; a status about a document the bus never routed is refused.

A batch is decided in order and in one transaction, so two packages of one
sender in one batch meet the store as they would one after the other. Nothing
here writes to Kafka: :mod:`bus.router.writer` acts on the decisions. Every
store call of a router runs on the decider's one store thread, in the order it
was made: a pipelined router's overlapping batches (:mod:`bus.router.loop`)
never have two transactions contend for the database, and a batch's decisions
are taken after those of the batches fetched before it. A
re-submission of bytes already delivered everywhere is settled here by its
digest alone, before any check (:meth:`Decider.settled`), so the answers queued
behind a sender's retries do not wait for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import ParamSpec, Protocol, TypeVar

from bus.acceptance import AcceptanceSession, AcceptanceStore, Accepted, Delivery, status_key
from bus.directory import AgencyDirectory
from bus.errors import BusError, UnauthorizedStatusError
from bus.records import content_digest
from bus.router.checker import CheckedPackage, Refused
from edxml import StatusCode, StatusPackage
from edxml.errors import EdxbusError

__all__ = ["CopyCheck", "Decider", "Decision"]

#: What became of one checked record: accepted (with who still lacks it), refused
#: by name, or None for a record the checks refused already.
Decision = Accepted | EdxbusError | None

#: The store forgets packages past its horizon once per this many packages.
PRUNE_EVERY = 10_000

_P = ParamSpec("_P")
_T = TypeVar("_T")


class CopyCheck(Protocol):
    """Whether recorded inbox copies are still there (:class:`bus.router.inboxes.Inboxes`)."""

    async def in_place(self, accepted: Accepted) -> bool:
        """Every recorded copy of ``accepted`` is still where it was recorded."""


class Decider:
    """Decisions over one acceptance store, with the directory of the moment.

    ``directory`` returns the directory as it is now (a follower's, in a running
    router); ``copies`` says whether recorded copies are still in the inboxes.
    The store is opened and closed by whoever owns it.
    """

    def __init__(
        self,
        store: AcceptanceStore,
        directory: Callable[[], AgencyDirectory],
        copies: CopyCheck,
        *,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        self.store = store
        self._directory = directory
        self._copies = copies
        self._prune_every = prune_every
        self._since_prune = 0
        self._store_thread: ThreadPoolExecutor | None = None

    async def _in_store(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run a blocking store call on the store thread, after those asked before it."""
        if self._store_thread is None:
            self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="router-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._store_thread, lambda: call(*args, **kwargs))

    def close(self) -> None:
        """End the store thread (the store itself is closed by its owner). Idempotent."""
        thread, self._store_thread = self._store_thread, None
        if thread is not None:
            thread.shutdown(wait=True)

    async def decide(self, outcomes: Sequence[CheckedPackage | Refused]) -> list[Decision]:
        """:meth:`decide_all` on the store thread."""
        return await self._in_store(self.decide_all, outcomes)

    async def record(self, landed: Sequence[Delivery], count: int, *, now: datetime) -> None:
        """:meth:`record_delivered` then :meth:`handled`, in one hop to the store thread."""

        def both() -> None:
            self.record_delivered(landed, now=now)
            self.handled(count, now=now)

        await self._in_store(both)

    async def settled(self, values: Sequence[bytes | None]) -> list[bool]:
        """For each record, whether it is a retry with nothing left to do.

        A sender's outbox re-submits until every recipient answers, so retries
        can outnumber new packages; each must cost next to nothing. Bytes
        accepted before (found by digest) were verified then: when every copy is
        still in place (known to this router, or read back at its recorded
        offset) the record is settled. Anything else takes the full path.
        """
        digests = [content_digest(v) if v else "" for v in values]
        known = await self._in_store(self.store.by_digests, [d for d in digests if d])
        settled: set[str] = set()
        unsettled: set[str] = set()  # a copy is missing: looked up once a batch
        verdicts = []
        for digest in digests:
            accepted = known.get(digest)
            done = (
                accepted is not None
                and not accepted.undelivered
                and digest not in unsettled
                and (digest in settled or await self._copies.in_place(accepted))
            )
            (settled if done else unsettled).add(digest)
            verdicts.append(done)
        return verdicts

    def decide_all(self, outcomes: Sequence[CheckedPackage | Refused]) -> list[Decision]:
        """Accept (or refuse) each checked package against the store, in order.

        Blocking (one database transaction): run it on a thread. A retriable
        failure (the database is away) is raised, and the batch is handled again.
        """
        decisions: list[Decision] = []
        now = datetime.now(UTC)
        with self.store.session() as session:
            session.preload(_keys(outcomes))  # the batch's reads, in a few queries
            for outcome in outcomes:
                if not isinstance(outcome, CheckedPackage):
                    decisions.append(None)
                    continue
                try:
                    decisions.append(self._decide(session, outcome, now))
                except BusError as error:
                    if error.retriable:
                        raise
                    decisions.append(error)
                except EdxbusError as error:
                    decisions.append(error)
        return decisions

    def record_delivered(self, landed: Iterable[Delivery], *, now: datetime) -> None:
        """Record acknowledged inbox copies, so a retry does not write them again.

        Blocking; called only after the broker acknowledged every write of the
        batch and before its offsets are committed.
        """
        self.store.mark_delivered(landed, now=now)

    def handled(self, count: int, *, now: datetime) -> None:
        """``count`` more records were handled; now and then forget what is past the horizon.

        Blocking (it may prune the store): run it on a thread.
        """
        self._since_prune += count
        if self._since_prune >= self._prune_every:
            self._since_prune = 0
            self.store.prune(now=now)

    def _decide(
        self, session: AcceptanceSession, checked: CheckedPackage, now: datetime
    ) -> Accepted:
        package = checked.package
        if isinstance(package, StatusPackage):
            targets = self._status_targets(session, package)
            key = status_key(checked.digest)
        else:
            targets = package.recipient_codes
            key = package.document_id
        return session.accept(checked.sender, key, checked.digest, targets, now=now)

    def _status_targets(
        self, session: AcceptanceSession, package: StatusPackage
    ) -> tuple[str, ...]:
        """Who a status goes to, if its sender may send it (else UnauthorizedStatusError)."""
        answered = package.response_for
        reporter = package.sender_code
        if not answered.organ_id or not answered.document_id:
            raise UnauthorizedStatusError(
                reporter, answered.document_id or "(none)", "it names no document it answers"
            )
        original = session.lookup(answered.organ_id, answered.document_id)
        if original is None:
            raise UnauthorizedStatusError(
                reporter,
                answered.document_id,
                f"the bus has not routed that document from {answered.organ_id}",
            )
        directory = self._directory()
        if package.status_code is StatusCode.TAKE_BACK:
            if reporter != original.sender:
                raise UnauthorizedStatusError(
                    reporter, answered.document_id, "only the original sender may take it back"
                )
            for recipient in original.recipients:
                directory.require(recipient, "recipient")
            return original.recipients
        if reporter not in original.recipients:
            raise UnauthorizedStatusError(
                reporter, answered.document_id, "it was not a recipient of the document"
            )
        directory.require(original.sender, "recipient")
        return (original.sender,)


def _keys(outcomes: Sequence[CheckedPackage | Refused]) -> list[tuple[str, str]]:
    """The (sender, key) pairs deciding these outcomes reads: each package's own and,
    for a status, the document it answers."""
    keys = []
    for outcome in outcomes:
        if not isinstance(outcome, CheckedPackage):
            continue
        package = outcome.package
        if isinstance(package, StatusPackage):
            keys.append((outcome.sender, status_key(outcome.digest)))
            answered = package.response_for
            if answered.organ_id and answered.document_id:
                keys.append((answered.organ_id, answered.document_id))
        else:
            keys.append((outcome.sender, package.document_id))
    return keys
