"""The router (DESIGN.md §4): ``edx.submit`` -> recipients' inboxes, events, dead letters.

For each submitted record the router verifies and parses the package
(:mod:`bus._router_check`), decides against its acceptance store whether it is
new, a retry or a replay (:mod:`bus.acceptance`), then writes the *unchanged
bytes* to each recipient's ``edx.inbox.<code>`` that does not have them yet and
emits the lifecycle events. A refused package goes to ``edx.deadletter`` with
reason headers (without its body when the body cannot be written there: digest,
size and reason stay) and a REJECTED event; a rejection notice goes to the inbox
of the agency whose directory-bound certificate verifiably signed it, so a sender
learns why even though it may read nothing but its inbox, and records nobody
signed (garbage, forged keys) land in no agency's inbox. A re-submission of bytes
already delivered everywhere is settled by its digest, without a second
verification, so the answers behind it do not wait.

Status packages: a status (01-16) is routed to the document's original sender
and only from one of the document's recipients; a take-back (13) only from the
original sender, to every recipient. Revocations, updates and replacements are
documents with DocumentIds of their own and are routed like any other.

Delivery is at-least-once with idempotent effects: offsets are committed only
after every inbox, event and dead-letter write of the batch is acknowledged and
the acknowledged deliveries are recorded; a crash in between means the batch is
handled again, and the store keeps recipients from getting a copy twice (unless
the crash fell between the acknowledgement and its recording, which receivers
absorb by deduplicating on the document id). Routers scale by running more of
them in one consumer group; their stores must then be one database.

This module is the service: :class:`Router` (start, stop, the group), :func:`run_router`
and :func:`main`. The routing itself lives beside it: the consume loop in
:mod:`bus._router_loop`, checks and acceptance in :mod:`bus._router_decide`, the
writes in :mod:`bus._router_writes`, the shared state in :mod:`bus._router_state`.

Run it with ``python -m bus.router`` (or ``edx router run``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from bus import metrics
from bus._router_check import PackageChecker
from bus._router_loop import MAX_BACKOFF_SECONDS as MAX_BACKOFF_SECONDS
from bus._router_loop import MAX_BATCH, RouterLoop
from bus._router_memory import keep_memory_flat
from bus._router_state import CopyMemory, RouterStats
from bus._router_workers import CheckPool, default_workers
from bus._router_writes import record_kind as record_kind
from bus.acceptance import AcceptanceStore
from bus.directory import DirectoryFollower
from bus.errors import BusError
from bus.kafka import make_consumer, make_producer, probe_features, translate_errors
from bus.logs import get_logger
from bus.service_main import run_service_main
from bus.settings import Settings
from bus.topics import ensure_topics
from bus.verification import make_verifier
from signing import Verifier

__all__ = ["Router", "RouterStats", "main", "make_verifier", "run_router"]

log = get_logger(__name__)

#: First wait before a start that failed on an unreachable broker or store is tried
#: again; it doubles up to :data:`MAX_START_BACKOFF_SECONDS`.
START_BACKOFF_SECONDS = 0.25
MAX_START_BACKOFF_SECONDS = 5.0


class _ForgetCopiesOnJoin(ConsumerRebalanceListener):  # type: ignore[misc]
    """Each join of the group starts with no inbox copy taken for granted.

    A broker that lost its data lost the group too: rejoining is how the router
    notices, so copies it knew of are read back from the log again.
    """

    def __init__(self, copies: CopyMemory) -> None:
        self._copies = copies

    async def on_partitions_revoked(self, revoked: Any) -> None:
        del revoked

    async def on_partitions_assigned(self, assigned: Any) -> None:
        del assigned
        self._copies.forget()


class Router(RouterLoop):
    """One router: an async context manager around the consume-check-route loop.

    ``verifier`` defaults to the trust store of ``settings``; ``group_id`` to
    ``settings.router_group``; ``consumer_options`` go to the aiokafka consumer
    (session timeouts and the like); ``workers`` processes verify and parse
    (default ``settings.router_workers``, else one per core; 1 reads in this
    process, and so does a router given its ``verifier``). Use :meth:`run` (until
    ``stop`` is set) or :meth:`route_available` (tests, tools) inside ``async with``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        verifier: Verifier | None = None,
        group_id: str | None = None,
        consumer_options: Mapping[str, Any] | None = None,
        workers: int | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id or settings.router_group
        self._consumer_options = dict(consumer_options or {})
        self.stats = RouterStats()
        self._verifier = verifier
        self._checker: PackageChecker | None = None
        self._pool: CheckPool | None = None
        self._warming: asyncio.Future[set[int]] | None = None
        # Worker processes build their verifier from the settings: a verifier handed
        # in (tests, tools) is used in this process only.
        wanted = workers or settings.router_workers or default_workers()
        self.workers = 1 if verifier is not None else max(1, wanted)
        self._store = AcceptanceStore(settings.resolved_router_db_url)
        self._follower = DirectoryFollower(settings, follow=True)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._probe: AIOKafkaConsumer | None = None  # reads inbox copies on retries
        self._since_prune = 0
        self._inboxes: set[str] = set()
        self._next_loss_check = 0.0
        self._copies = CopyMemory()
        self._careful: tuple[TopicPartition, int] | None = None

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, create missing topics, load the directory, join the group."""
        verifier = self._verifier
        if verifier is None:
            verifier = await asyncio.to_thread(make_verifier, self.settings)
        self._checker = PackageChecker(
            verifier,
            max_package_bytes=self.settings.max_package_bytes,
            agency_pattern=self.settings.agency_pattern,
        )
        try:
            if self.workers > 1 and self._pool is None:
                self._pool = CheckPool(self.settings, self.workers, self._checker)
            # Independent steps run side by side: a restarted router is away only
            # as long as the slowest of them, not their sum.
            await _together(
                asyncio.to_thread(self._store.open),
                ensure_topics(self.settings),
                probe_features(self.settings),  # sets the group timing: before the join
            )
            self._producer = make_producer(self.settings)
            self._consumer = make_consumer(
                self.settings,
                group_id=self.group_id,
                max_poll_records=MAX_BATCH,
                **self._consumer_options,
            )
            self._consumer.subscribe(
                [self.settings.topics.submit], listener=_ForgetCopiesOnJoin(self._copies)
            )
            self._probe = make_consumer(self.settings, group_id=None, max_poll_records=1)
            await _together(
                _started(self._consumer, "joining the router group"),
                _started(self._producer, "starting the router's producer"),
                _started(self._probe, "starting the router's inbox reader"),
                self._follower.start(),
                asyncio.to_thread(self._store.prune, now=datetime.now(UTC)),
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
        backoff = START_BACKOFF_SECONDS
        while not stop.is_set():
            try:
                await self.start()
                return True
            except BusError as error:
                if not error.retriable:
                    raise
                self.stats.failed_starts += 1
                log.warning("router waits for its broker and store", error=str(error), wait=backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, MAX_START_BACKOFF_SECONDS)
        return False

    async def stop(self) -> None:
        """Leave the group and close everything. Idempotent."""
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        probe, self._probe = self._probe, None
        for reader in (consumer, probe):
            if reader is not None:
                with contextlib.suppress(Exception):
                    await reader.stop()
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
        await self._follower.stop()
        await asyncio.to_thread(self._store.close)
        warming, self._warming = self._warming, None
        if warming is not None and not warming.done():
            warming.cancel()
            with contextlib.suppress(BaseException):
                await warming
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.close)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def workers_ready(self) -> bool:
        """The worker processes answer, and batches are read on them (not here)."""
        return self._pool is not None and self._pool.ready

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The ``edx.submit`` partitions this router holds in its group right now."""
        consumer = self._consumer
        return frozenset(consumer.assignment()) if consumer is not None else frozenset()


async def _together(*steps: Awaitable[Any]) -> None:
    """Await every step side by side, then raise the first failure, if any.

    A failing step does not cancel the others: each finishes (or fails) on its
    own and closes what it opened, so no client is left half-connected.
    """
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def _started(client: AIOKafkaConsumer | AIOKafkaProducer, action: str) -> None:
    with translate_errors(action):
        await client.start()


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


if __name__ == "__main__":
    main()
