"""The router as a service: its parts wired once, started and stopped together.

A :class:`Router` is a small object that owns named collaborators and the
order they start and stop in; it does no routing itself. At :meth:`Router.start`
they are built from the settings in one place (:func:`_wire`), each given what
it needs at construction:

- ``directory``: a :class:`bus.directory.DirectoryFollower` kept in step with
  ``edx.agencies``;
- ``store``: the :class:`bus.acceptance.AcceptanceStore`, the router's memory;
- ``inboxes``: :class:`bus.router.inboxes.Inboxes`, which inbox topics exist and
  which recorded copies are still there;
- ``checker``: :class:`bus.router.checker.BatchChecker` over the one read path
  (:func:`bus.verification.make_reader`), on worker processes when there are
  (:class:`bus.router.workers.CheckPool`);
- ``decider``: :class:`bus.router.decider.Decider` over the store;
- ``writer``: :class:`bus.router.writer.Writer`, the only producer;
- ``loop``: :class:`bus.router.loop.RouteLoop`, the group member that fetches,
  runs the steps above in order and commits.

They are built at start, not in the constructor, because reading the trust
store is I/O and a router is built before its event loop runs its start; a
router stopped and started again gets fresh parts (nothing of a lost broker is
carried over).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import TopicPartition

from bus import metrics
from bus._service import AsyncService
from bus.acceptance import AcceptanceStore
from bus.directory import DirectoryFollower
from bus.errors import BusError
from bus.kafka import probe_features
from bus.logs import get_logger
from bus.router.checker import BatchChecker, PackageChecker
from bus.router.decider import Decider
from bus.router.inboxes import Inboxes
from bus.router.loop import RouteLoop
from bus.router.memory import keep_memory_flat
from bus.router.stats import RouterStats
from bus.router.workers import CheckPool, default_workers
from bus.router.writer import Writer
from bus.service_main import run_service_main
from bus.settings import Settings
from bus.start_backoff import start_with_backoff
from bus.topics import ensure_topics
from bus.verification import PackageReader, make_reader

__all__ = ["Router", "main", "run_router"]

log = get_logger("bus.router")


@dataclass(frozen=True)
class _Parts:
    """The collaborators of one started router."""

    directory: DirectoryFollower
    store: AcceptanceStore
    inboxes: Inboxes
    checker: BatchChecker
    decider: Decider
    writer: Writer
    loop: RouteLoop


class Router(AsyncService):
    """One router: an async context manager around the fetch-check-decide-write loop.

    ``reader`` defaults to the read path of ``settings``
    (:func:`bus.verification.make_reader`); ``group_id`` to
    ``settings.groups.router``; ``consumer_options`` go to the aiokafka consumer
    (session timeouts and the like); ``workers`` processes verify and parse
    (default ``settings.delivery.router_workers``, else one per core; 1 reads in this
    process, and so does a router given its ``reader``: worker processes build
    theirs from the settings). Use :meth:`run` (until ``stop`` is set) or
    :meth:`route_available` (tests, tools) inside ``async with``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        reader: PackageReader | None = None,
        group_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
        workers: int | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id or settings.groups.router
        self.stats = RouterStats()
        wanted = workers or settings.delivery.router_workers or default_workers()
        self.workers = 1 if reader is not None else max(1, wanted)
        self._reader = reader
        self._consumer_options = dict(consumer_options or {})
        self._parts: _Parts | None = None

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, create missing topics, load the directory, join the group."""
        reader = self._reader
        if reader is None:
            reader = await asyncio.to_thread(make_reader, self.settings)
        parts = self._parts = _wire(
            self.settings,
            reader,
            stats=self.stats,
            group_id=self.group_id,
            consumer_options=self._consumer_options,
            workers=self.workers,
        )
        try:
            # Independent steps run side by side: a restarted router is away only
            # as long as the slowest of them, not their sum.
            await _together(
                asyncio.to_thread(parts.store.open),
                ensure_topics(self.settings),
                probe_features(self.settings),  # sets the group timing: before the join
            )
            await _together(
                parts.loop.start(),
                parts.writer.start(),
                parts.inboxes.start(),
                parts.directory.start(),
                asyncio.to_thread(parts.store.prune, now=datetime.now(UTC)),
            )
        except BaseException:
            await self.stop()
            raise
        log.info(
            "router started",
            group=self.group_id,
            topic=self.settings.topics.submit,
            workers=self.workers,
        )

    async def start_when_ready(self, stop: asyncio.Event | None = None) -> bool:
        """Start, waiting with backoff while the broker or the store cannot be reached.

        A router is started by a supervisor that may bring it up before its broker
        or its database: it waits for them instead of exiting. Each failed attempt
        closes every client it opened. Returns ``False`` when ``stop`` was set
        before the router could start; a non-retriable failure is raised.
        """
        stop = stop or asyncio.Event()

        def count(error: BusError) -> None:
            del error
            self.stats.failed_starts += 1

        return await start_with_backoff("router", self.start, stop, on_retry=count)

    async def stop(self) -> None:
        """Leave the group and close everything. Idempotent."""
        parts, self._parts = self._parts, None
        if parts is None:
            return
        await parts.loop.stop()
        await parts.inboxes.stop()
        await parts.writer.stop()
        await parts.directory.stop()
        await asyncio.to_thread(parts.decider.close)
        await asyncio.to_thread(parts.store.close)
        await parts.checker.close()

    # --- routing ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Route until ``stop`` is set (:meth:`bus.router.loop.RouteLoop.run`)."""
        await self._started().loop.run(stop)

    async def route_available(self, *, timeout_ms: int = 1000) -> int:
        """Fetch one batch, route it, commit; the number of records it held."""
        return await self._started().loop.route_available(timeout_ms=timeout_ms)

    async def warm_workers(self) -> bool:
        """Start the worker processes now, not at the first batch, and wait for them
        (a benchmark's clock must not hold their spawn). Whether they answer."""
        return await self._started().checker.warm()

    @property
    def workers_ready(self) -> bool:
        """The worker processes answer, and batches are read on them (not here)."""
        parts = self._parts
        return parts is not None and parts.checker.workers_ready

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The ``edx.submit`` partitions this router holds in its group right now."""
        parts = self._parts
        return parts.loop.assignment if parts is not None else frozenset()

    def _started(self) -> _Parts:
        if self._parts is None:
            raise BusError("the router is not started")
        return self._parts


def _wire(
    settings: Settings,
    reader: PackageReader,
    *,
    stats: RouterStats,
    group_id: str,
    consumer_options: Mapping[str, Any],
    workers: int,
) -> _Parts:
    """Build a router's collaborators from its settings: the one place they meet."""
    directory = DirectoryFollower(settings, follow=True)
    store = AcceptanceStore(settings.resolved_router_db_url)
    inboxes = Inboxes(settings)
    package_checker = PackageChecker(reader, max_package_bytes=settings.packages.max_package_bytes)
    pool = CheckPool(settings, workers, package_checker) if workers > 1 else None
    checker = BatchChecker(package_checker, directory, pool)

    decider = Decider(store, lambda: directory.directory, inboxes)
    writer = Writer(settings, inboxes, lambda: directory.directory, stats)
    loop = RouteLoop(
        settings,
        group_id=group_id,
        checker=checker,
        decider=decider,
        writer=writer,
        inboxes=inboxes,
        stats=stats,
        consumer_options=consumer_options,
    )
    return _Parts(directory, store, inboxes, checker, decider, writer, loop)


async def _together(*steps: Awaitable[Any]) -> None:
    """Await every step side by side, then raise the first failure, if any.

    A failing step does not cancel the others: each finishes (or fails) on its
    own and closes what it opened, so no client is left half-connected.
    """
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def run_router(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run one router until ``stop`` is set (or forever)."""
    keep_memory_flat()
    server = metrics.start_metrics_server(settings)
    router = Router(settings)
    try:
        if await router.start_when_ready(stop):
            await router.run(stop)
    finally:
        await router.stop()
        if server is not None:
            server.stop()


def main(argv: Iterable[str] | None = None) -> None:
    """``python -m bus.router``: settings from the environment, stop on SIGINT/SIGTERM."""
    del argv
    run_service_main("router", lambda settings, stop: run_router(settings, stop=stop))
