"""The router's counters: what tests, benchmarks and the log read of a running router.

One plain object handed to each part that counts something (the loop counts
settled retries and failed batches, the writer what it delivers and refuses, the
service its failed starts), so the totals stay in one place without any part
reaching into another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RouterStats"]


@dataclass
class RouterStats:
    """Counts since the router started (for tests, benchmarks and the log)."""

    handled: int = 0
    #: Records whose offsets are committed (every write for them acknowledged and recorded).
    committed: int = 0
    delivered: int = 0
    rejected: int = 0
    retries: int = 0
    #: Batches that failed on something retriable (broker, database) and were rewound.
    failed_batches: int = 0
    #: Starts that failed on an unreachable broker or store and were tried again.
    failed_starts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def count_rejection(self, reason_code: str) -> None:
        """One more record refused for ``reason_code``."""
        self.rejected += 1
        self.reasons[reason_code] = self.reasons.get(reason_code, 0) + 1
