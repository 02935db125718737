"""The replay's look at the transparency log: every decision the tracker records has its
leaf, and the log itself (leaves, subtree hashes, signed checkpoints, the Kafka records
the leaves name) passes :func:`bus.tlog.audit_log`, the one implementation ``edx log
audit`` runs too.

A decision is owed a leaf only once the log has read past its ``edx.events`` record
(the log's stored positions, committed with its leaves), so a replay of a live system
never mistakes the log's lag for a missing leaf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from bus._audit_model import AuditedPackage, Divergence, DivergenceKind
from bus.errors import DatabaseUnavailableError
from bus.settings import Settings
from bus.store import create_store_engine
from bus.store import translate_errors as translate_db_errors
from bus.tlog.audit import audit_log
from bus.tlog.errors import NoCheckpointError
from bus.tlog.leaf import Decision
from bus.tlog.schema import leaves, positions
from bus.tlog.settings import LogSettings

__all__ = ["LogCheck", "LogLeaves", "check_log", "open_log"]

#: The tracker's steps that are router decisions, each owed one leaf.
_DECISIONS = {"SUBMITTED": Decision.ACCEPTED, "STATUS": Decision.ACCEPTED,
              "REJECTED": Decision.REFUSED}


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


class LogLeaves:
    """Checks, batch by batch, that each decision the tracker records has its leaf."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        with translate_db_errors(), engine.connect() as connection:
            self._positions = {(row.topic, row.partition): row.next_offset
                               for row in connection.execute(select(positions))}

    def check(self, decided: Sequence[tuple[AuditedPackage, Mapping[str, Any]]]
              ) -> list[Divergence]:
        """``unlogged`` for each (package, tracker step) the log read and made no leaf of."""
        due = [(package, step) for package, step in decided
               if step["kind"] in _DECISIONS and step["events_offset"] < self._positions.get(
                   (step["events_topic"], step["events_partition"]), 0)]
        if not due:
            return []
        digests = sorted({package.content_digest for package, _ in due})
        held: set[tuple[str, str]] = set()
        with translate_db_errors(), self._engine.connect() as connection:
            for start in range(0, len(digests), 500):
                chunk = digests[start:start + 500]
                held.update((row.digest, row.decision) for row in connection.execute(
                    select(leaves.c.digest, leaves.c.decision).where(leaves.c.digest.in_(chunk))))
        found: list[Divergence] = []
        for package, step in due:
            decision = _DECISIONS[step["kind"]]
            if (package.content_digest, decision.value) not in held:
                events = (f"{step['events_topic']}/{step['events_partition']}/"
                          f"{step['events_offset']}")
                found.append(Divergence(
                    DivergenceKind.UNLOGGED, step["document_id"],
                    f"the router's {step['kind']} decision ({events}) has no {decision.value} "
                    "leaf in the transparency log", step["recipient"],
                    package.record.coordinates))
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
            Divergence(DivergenceKind.LOG, "", f"[{finding.kind.value}] {finding.detail}",
                       coordinates=f"leaf {finding.leaf_index}")
            for finding in audit.findings),
    )
