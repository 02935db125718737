"""What a router holds, declared once: its settings, counters, store, directory and
Kafka clients.

:class:`bus.router.Router` is assembled from parts that each own one stage of
routing (:mod:`bus._router_loop`, :mod:`bus._router_decide`,
:mod:`bus._router_writes`); they share this state, typed here so each part
type-checks on its own, and the router sets it in its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bus._router_check import PackageChecker
from bus.acceptance import AcceptanceStore
from bus.directory import DirectoryFollower
from bus.errors import BusError
from bus.settings import Settings
from signing import Verifier

__all__ = ["RouterState", "RouterStats"]

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
    reasons: dict[str, int] = field(default_factory=dict)


class RouterState:
    """The attributes every part of the router reads (set by ``Router.__init__``)."""

    settings: Settings
    group_id: str
    stats: RouterStats
    _consumer_options: dict[str, Any]
    _verifier: Verifier | None
    _checker: PackageChecker | None
    _store: AcceptanceStore
    _follower: DirectoryFollower
    _producer: AIOKafkaProducer | None
    _consumer: AIOKafkaConsumer | None
    _probe: AIOKafkaConsumer | None
    _since_prune: int
    _inboxes: set[str]

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise BusError("the router is not started")
        return value
