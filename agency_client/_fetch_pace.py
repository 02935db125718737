"""How long the broker may hold an inbox fetch: short while the client is busy, longer
once it has been idle a while.

Why: on a broker that holds a fetch that found nothing for a while (on the
embedded Tansu a record produced meanwhile arrives after about 2 ms at a 5 ms
wait, up to 11 ms at 20 ms, 208 ms at 500 ms; Apache Kafka answers as soon as a
record arrives), a short wait makes each hop into the inbox quick, but an idle
client then keeps asking: 5 ms meant about 130 empty fetches a second per idle
client on the embedded broker (``python -m bench.bench_e2e``), against about 45
at 20 ms. So the client
waits ``ClientTuning.fetch_max_wait_ms`` while it is busy (it read records, or
published a package whose answer is on its way, within ``idle_after_ms``) and
``idle_fetch_max_wait_ms`` after that. The first record after a quiet spell waits
no longer than it did with one fixed idle wait.

aiokafka reads its fetch wait from its fetcher for every request and has no public
setter: the pace changes that attribute when it is there, and otherwise leaves the
consumer's configured wait (the busy one) in force.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agency_client.tuning import ClientTuning

__all__ = ["FetchPace"]


class FetchPace:
    """Sets the inbox consumer's fetch wait from how recently the client was busy."""

    def __init__(self, tuning: ClientTuning, clock: Callable[[], float] = time.monotonic) -> None:
        self.busy_ms = tuning.fetch_max_wait_ms
        self.idle_ms = max(tuning.idle_fetch_max_wait_ms, tuning.fetch_max_wait_ms)
        self._idle_after = tuning.idle_after_ms / 1000
        self._clock = clock
        self._busy_at: float | None = None
        self._fetcher: Any = None
        self._applied: int | None = None

    def attach(self, consumer: Any) -> None:
        """Pace ``consumer`` (configured with the busy wait): idle until something happens."""
        fetcher = getattr(consumer, "_fetcher", None)
        self._fetcher = fetcher if hasattr(fetcher, "_fetch_max_wait_ms") else None
        self._applied = None
        self.update()

    def busy(self) -> None:
        """Records were read, or a package went out whose answer will come back soon."""
        self._busy_at = self._clock()
        self.update()

    def wait_ms(self) -> int:
        """The fetch wait for now."""
        recent = self._busy_at is not None and self._clock() - self._busy_at < self._idle_after
        return self.busy_ms if recent else self.idle_ms

    def update(self) -> None:
        """Set the wait for the next fetch (called on every read of the inbox)."""
        wait = self.wait_ms()
        if wait != self._applied and self._fetcher is not None:
            self._fetcher._fetch_max_wait_ms = wait
            self._applied = wait
