"""The replay's look at the transparency log: every decision the tracker records has its
leaf, and the log itself (leaves, subtree hashes, signed checkpoints, the Kafka records
the leaves name) passes :func:`bus.tlog.audit_log`, the one implementation ``edx log
audit`` runs too.

A decision is owed a leaf only once the log has read past its ``edx.events`` record
(the log's stored positions, committed with its leaves), so a replay of a live system
never mistakes the log's lag for a missing leaf.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509
from sqlalchemy import Engine, func, select

from bus.audit.model import AuditedPackage, Divergence, DivergenceKind, LogRecord, TrackedStep
from bus.errors import DatabaseUnavailableError
from bus.lifecycle import EventKind
from bus.records import content_digest
from bus.settings import Settings
from bus.sql import database_errors
from bus.store import create_store_engine
from bus.store.engine import TRACKER_DATABASE
from bus.tlog.audit import audit_log
from bus.tlog.errors import NoCheckpointError
from bus.tlog.leaf import Decision
from bus.tlog.schema import checkpoints, leaves, positions
from bus.tlog.settings import LogSettings
from signing import TimestampError, TrustStore, verify_timestamp

__all__ = ["LogCheck", "LogLeaves", "check_log", "log_anchors", "open_log"]

#: The tracker's steps that are router decisions, each owed one leaf.
_DECISIONS: dict[str, Decision] = {
    EventKind.SUBMITTED: Decision.ACCEPTED,
    EventKind.STATUS: Decision.ACCEPTED,
    EventKind.REJECTED: Decision.REFUSED,
}


@dataclass(frozen=True)
class LogCheck:
    """What the replay checked of the log: its size, latest signed checkpoint, findings."""

    leaves: int
    checkpoints: int
    latest_checkpoint: int
    divergences: tuple[Divergence, ...]
    note: str | None = None


def open_log(settings: Settings, log_settings: LogSettings | None) -> Engine | None:
    """The log's database, or ``None`` when this system keeps no log (no database there)."""
    chosen = log_settings or LogSettings.from_env(settings)
    try:
        return create_store_engine(chosen.db_url, must_exist=True)
    except DatabaseUnavailableError:
        return None


def log_anchors(settings: Settings) -> tuple[x509.Certificate, ...]:
    """The trust anchors a checkpoint's time-stamping authority must chain to."""
    return TrustStore.from_directory(settings.resolved_trust, []).anchors


class LogLeaves:
    """Checks, batch by batch, that each decision the tracker records has its leaf, and
    dates packages by the time-stamps of the checkpoints that hold their leaves."""

    def __init__(self, engine: Engine, anchors: Sequence[x509.Certificate] = ()) -> None:
        self._engine = engine
        self._sizes: array[int] = array("q")
        self._times: list[datetime] = []
        with database_errors(TRACKER_DATABASE), engine.connect() as connection:
            self._positions = {
                (row.topic, row.partition): row.next_offset
                for row in connection.execute(select(positions))
            }
            stamped = connection.execute(
                select(checkpoints.c.tree_size, checkpoints.c.note, checkpoints.c.timestamp_token)
                .where(checkpoints.c.timestamp_token.is_not(None))
                .order_by(checkpoints.c.tree_size)
            )
            for row in stamped:
                try:
                    info = verify_timestamp(bytes(row.timestamp_token), bytes(row.note), anchors)
                except TimestampError:
                    continue  # an unverifiable token dates nothing (the log audit names it)
                self._sizes.append(int(row.tree_size))
                self._times.append(info.gen_time)

    def _first_stamp(self, leaf_index: int) -> datetime | None:
        at = bisect_right(self._sizes, leaf_index)
        return self._times[at] if at < len(self._times) else None

    def trusted_times(self, records: Sequence[LogRecord]) -> list[LogRecord]:
        """``records`` with each one the broker did not date dated by the time-stamp of the
        first checkpoint holding its leaf (when there is one)."""
        undated = {content_digest(r.value or b"") for r in records if r.trusted_time is None}
        if not undated or not self._sizes:
            return list(records)
        first: dict[str, int] = {}
        digests = sorted(undated)
        with database_errors(TRACKER_DATABASE), self._engine.connect() as connection:
            for start in range(0, len(digests), 500):
                for row in connection.execute(
                    select(leaves.c.digest, func.min(leaves.c.leaf_index))
                    .where(leaves.c.digest.in_(digests[start : start + 500]))
                    .group_by(leaves.c.digest)
                ):
                    first[row[0]] = int(row[1])
        dated: list[LogRecord] = []
        for record in records:
            index = None if record.trusted_time else first.get(content_digest(record.value or b""))
            stamp = None if index is None else self._first_stamp(index)
            dated.append(record if stamp is None else replace(record, trusted_time=stamp))
        return dated

    def check(self, decided: Sequence[tuple[AuditedPackage, TrackedStep]]) -> list[Divergence]:
        """``unlogged`` for each (package, tracker step) the log read and made no leaf of."""
        due = [
            (package, step)
            for package, step in decided
            if step.kind in _DECISIONS
            and step.events_offset
            < self._positions.get((step.events_topic, step.events_partition), 0)
        ]
        if not due:
            return []
        digests = sorted({package.content_digest for package, _ in due})
        held: set[tuple[str, str]] = set()
        with database_errors(TRACKER_DATABASE), self._engine.connect() as connection:
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                held.update(
                    (row.digest, row.decision)
                    for row in connection.execute(
                        select(leaves.c.digest, leaves.c.decision).where(leaves.c.digest.in_(chunk))
                    )
                )
        found: list[Divergence] = []
        for package, step in due:
            decision = _DECISIONS[step.kind]
            if (package.content_digest, decision.value) not in held:
                found.append(
                    Divergence(
                        DivergenceKind.UNLOGGED,
                        step.document_id,
                        f"the router's {step.kind} decision ({step.events_coordinates}) has no "
                        f"{decision.value} leaf in the transparency log",
                        step.recipient,
                        package.record.coordinates,
                    )
                )
        return found


async def check_log(settings: Settings, log_settings: LogSettings | None) -> LogCheck:
    """The log audited against itself, its signed checkpoints and Kafka (``edx log audit``)."""
    try:
        audit = await audit_log(settings, log_settings)
    except NoCheckpointError as error:  # a log that has not signed yet: nothing to hold
        return LogCheck(0, 0, 0, (), note=str(error))
    return LogCheck(
        leaves=audit.leaves,
        checkpoints=audit.checkpoints,
        latest_checkpoint=audit.latest_checkpoint,
        divergences=tuple(
            Divergence(
                DivergenceKind.LOG,
                "",
                f"[{finding.kind.value}] {finding.detail}",
                coordinates=f"leaf {finding.leaf_index}",
            )
            for finding in audit.findings
        ),
    )
