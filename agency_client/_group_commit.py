"""Group commit: the writes of many concurrent callers in one transaction, one fsync.

Why: SQLite in WAL mode with ``synchronous=FULL`` fsyncs at every commit, and an
fsync costs a few milliseconds whatever it carries. A client that sends many
documents at once, or reads its inbox in batches, would pay one fsync per package;
here the writes that queue up while one commit is on its way to the disk go to the
disk together in the next one. Durability is unchanged: a caller's ``await`` returns
only once the transaction holding its write is committed (on disk).

The first write of a quiet period is committed at once (no waiting for company);
the commit runs in a worker thread so the event loop goes on signing, publishing
and reading meanwhile, and whatever arrived in the meantime forms the next group.

A write is a function of one open connection. It must raise its own errors (a
:class:`~agency_client.errors.DuplicateDocumentError`, say) *before* it changes
anything: such an error goes to its caller alone, and the rest of the group is
committed. A driver error fails the whole group (nothing of it is committed) and
every caller in it receives it, as :class:`~agency_client.errors.OutboxError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

__all__ = ["GroupCommit"]

T = TypeVar("T")

#: Writes per transaction at most (bounds the time one commit holds the file).
DEFAULT_MAX_GROUP = 256


@dataclass(frozen=True)
class _Write(Generic[T]):
    write: Callable[[Connection], T]
    future: asyncio.Future[T]


class GroupCommit:
    """Commits the writes queued by concurrent callers together (see the module docstring)."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        *,
        max_group: int = DEFAULT_MAX_GROUP,
    ) -> None:
        if max_group < 1:
            raise ValueError("a group holds at least one write")
        self._begin = begin
        self.max_group = max_group
        self._queued: list[_Write[Any]] = []
        self._drainer: asyncio.Task[None] | None = None
        #: Transactions committed and writes they carried (for benchmarks and tests).
        self.commits = 0
        self.writes = 0

    async def write(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` in the next group's transaction; its result once that is on disk."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append(_Write(write, future))
        if self._drainer is None or self._drainer.done():
            # A task of its own, so a caller's cancellation never abandons the others.
            self._drainer = asyncio.create_task(self._drain(), name="store-group-commit")
        return await future

    async def _drain(self) -> None:
        while self._queued:
            group = self._queued[: self.max_group]
            del self._queued[: self.max_group]
            try:
                outcomes = await asyncio.to_thread(self._commit, group)
            except BaseException as exc:  # the group failed as one: every caller hears it
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for item, (ok, value) in zip(group, outcomes, strict=True):
                if item.future.done():  # its caller was cancelled: the write stands
                    continue
                if ok:
                    item.future.set_result(value)
                else:
                    item.future.set_exception(value)

    def _commit(self, group: list[_Write[Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self._begin() as conn:
            for item in group:
                try:
                    outcomes.append((True, item.write(conn)))
                except Exception as exc:
                    if isinstance(exc, SQLAlchemyError):
                        raise
                    outcomes.append((False, exc))
        self.commits += 1
        self.writes += len(group)
        return outcomes
