"""The router's decisions on a batch: every record checked (on worker threads, one
per core), then each checked package accepted or refused against the acceptance
store, in order and in one transaction, with who a status may go to.

Nothing here writes to Kafka; :mod:`bus._router_writes` acts on the outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from bus._router_check import CheckedPackage, Refused
from bus._router_state import RouterState
from bus._router_workers import CheckPool
from bus.acceptance import AcceptanceSession, Accepted, status_key
from bus.errors import BusError, UnauthorizedStatusError
from edxml import StatusCode, StatusPackage
from edxml.errors import EdxbusError

__all__ = ["RouterDecisions"]

log = logging.getLogger("bus.router")

#: Worker threads checking one batch: one per core (signxml holds the GIL for much
#: of a verification, so more threads only take turns).
_CHECK_THREADS = max(1, min(4, os.cpu_count() or 1))


def _warm_outcome(future: asyncio.Future[set[int]]) -> None:
    """A pool that failed to start leaves the router reading batches itself: say so."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.warning("router workers did not start: packages are read in the router: %s", error)


class RouterDecisions(RouterState):
    """Checking and accepting the packages of one batch."""

    async def _check_all(
        self, records: Sequence[ConsumerRecord[Any, Any]]
    ) -> list[CheckedPackage | Refused]:
        """Check a batch: read on the worker processes when there are some, else on
        one worker thread per core, each taking a contiguous share; then the
        directory checks here, in order."""
        pool = self._pool
        if pool is not None and not pool.ready:
            self._warm_workers(pool)
        if pool is not None and pool.ready:
            values = [record.value for record in records]
            reads = await pool.read(values)
            checker = self._require(self._checker)
            directory = self._follower.directory
            return [
                checker.judge(value, read, directory)
                for value, read in zip(values, reads, strict=True)
            ]
        share = -(-len(records) // _CHECK_THREADS)
        chunks = [records[i : i + share] for i in range(0, len(records), share)]
        results = await asyncio.gather(
            *(asyncio.to_thread(self._check_chunk, chunk) for chunk in chunks)
        )
        return [outcome for chunk in results for outcome in chunk]

    def _warm_workers(self, pool: CheckPool) -> None:
        """Start the worker processes in the background at the first batch.

        Not at start: spawning them (imports, trust store) takes a core for a
        second or two, which a router restarted after a crash needs for its own
        start and its first batch. Until they answer, batches are read here.
        """
        if self._warming is not None:
            return
        self._warming = asyncio.ensure_future(pool.start())
        self._warming.add_done_callback(_warm_outcome)

    def _check_chunk(
        self, records: Sequence[ConsumerRecord[Any, Any]]
    ) -> list[CheckedPackage | Refused]:
        return [self._check_now(record) for record in records]

    async def _check(self, record: ConsumerRecord[Any, Any]) -> CheckedPackage | Refused:
        """The package checked, or the named error that refuses it."""
        return await asyncio.to_thread(self._check_now, record)

    def _check_now(self, record: ConsumerRecord[Any, Any]) -> CheckedPackage | Refused:
        checker = self._require(self._checker)
        return checker.outcome(record.value, self._follower.directory)

    def _decide_all(
        self, outcomes: Sequence[CheckedPackage | Refused]
    ) -> list[Accepted | EdxbusError | None]:
        """Accept (or refuse) each checked package against the store, in order."""
        decisions: list[Accepted | EdxbusError | None] = []
        now = datetime.now(UTC)
        with self._store.session() as session:
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
        directory = self._follower.directory
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
