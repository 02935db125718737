"""Per-system request rates: a token bucket per system, in the gateway's memory.

Each gateway process limits each system to ``rate`` requests a second on average with
bursts of ``burst``; behind a load balancer the limit is per process (docs/GATEWAY.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import RateLimitedError

__all__ = ["RateLimiter"]


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by system id."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, system_id: str) -> None:
        """Spend one request of ``system_id``; refused when its bucket is empty."""
        if self.rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = self._buckets[system_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise RateLimitedError(
                f"system {system_id} sends more than {self.rate:g} requests a second"
            )
        bucket.tokens -= 1.0
