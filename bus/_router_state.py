"""What a router holds, declared once: its settings, counters, store, directory and
Kafka clients.

:class:`bus.router.Router` is assembled from parts that each own one stage of
routing (:mod:`bus._router_loop`, :mod:`bus._router_decide`,
:mod:`bus._router_writes`); they share this state, typed here so each part
type-checks on its own, and the router sets it in its constructor.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from bus._router_check import PackageChecker
from bus._router_workers import CheckPool
from bus.acceptance import AcceptanceStore
from bus.directory import DirectoryFollower
from bus.errors import BusError
from bus.settings import Settings
from signing import Verifier

__all__ = ["CopyMemory", "RouterState", "RouterStats"]

_T = TypeVar("_T")


@dataclass
class RouterStats:
    """Counts since the router started (for tests, benchmarks and the log)."""

    handled: int = 0
    delivered: int = 0
    rejected: int = 0
    retries: int = 0
    #: Batches that failed on something retriable (broker, database) and were rewound.
    failed_batches: int = 0
    #: Starts that failed on an unreachable broker or store and were tried again.
    failed_starts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class CopyMemory:
    """Inbox copies this router knows to be in place since it last joined its group.

    Written when the broker acknowledges a copy, or when a copy is read back at
    its recorded offset with the right digest. A broker that loses its data also
    loses the group, so every (re)join forgets everything (:meth:`forget`), and
    what is remembered then is always checked again against the log. Bounded:
    the oldest entries go first.
    """

    def __init__(self, limit: int = 50_000) -> None:  # ~15 MB at most
        self.limit = limit
        self._known: OrderedDict[tuple[str, int, int], str] = OrderedDict()

    def remember(self, topic: str, partition: int, offset: int, digest: str) -> None:
        """A copy with ``digest`` is at this offset."""
        self._known[(topic, partition, offset)] = digest
        self._known.move_to_end((topic, partition, offset))
        while len(self._known) > self.limit:
            self._known.popitem(last=False)

    def holds(self, topic: str, partition: int, offset: int, digest: str) -> bool:
        """Whether the copy with ``digest`` is known to be at this offset."""
        return self._known.get((topic, partition, offset)) == digest

    def forget(self) -> None:
        """Forget every copy (the group was joined again: the broker may have changed)."""
        self._known.clear()

    def __len__(self) -> int:
        return len(self._known)


class RouterState:
    """The attributes every part of the router reads (set by ``Router.__init__``)."""

    settings: Settings
    group_id: str
    stats: RouterStats
    _consumer_options: dict[str, Any]
    _verifier: Verifier | None
    _checker: PackageChecker | None
    #: Worker processes reading packages; None when the router reads them itself.
    _pool: CheckPool | None
    #: The workers' start, begun at the first batch.
    _warming: asyncio.Future[set[int]] | None
    _store: AcceptanceStore
    _follower: DirectoryFollower
    _producer: AIOKafkaProducer | None
    _consumer: AIOKafkaConsumer | None
    _probe: AIOKafkaConsumer | None
    _since_prune: int
    _inboxes: set[str]
    #: When the loop next looks for partitions the broker lost (event-loop time).
    _next_loss_check: float
    #: Inbox copies known to be in place: (topic, partition, offset) -> digest.
    _copies: CopyMemory
    #: A partition read record by record after a corrupt batch, and where it failed.
    _careful: tuple[TopicPartition, int] | None

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise BusError("the router is not started")
        return value
