"""Auditing the log against itself and against Kafka (``edx log audit``).

Three stories must agree: the log's stored leaves, the checkpoints the log signed
(and agencies hold), and the Kafka records the leaves point at. The audit reads
them all and reports every disagreement as a :class:`LogFinding`:

- ``leaf-altered``: a stored leaf's record no longer hashes to its stored hash;
- ``subtree-altered``: a stored subtree hash (what proofs are made of) is not the
  hash of the leaves below it, or is missing;
- ``history-rewritten``: a signed checkpoint's root is not the root of the stored
  leaves up to its size (a leaf was changed together with its hash, or removed);
- ``package-missing`` / ``package-altered``: the ``edx.submit`` record a leaf names
  is gone, or holds other bytes than the leaf's digest (a rewritten topic);
- ``event-missing`` / ``event-altered``: the ``edx.events`` record a leaf names is
  gone, or is another decision than the leaf's.

Kafka is read partition by partition, from the lowest offset a leaf names to the
highest, so the audit streams the topics once rather than seeking per leaf.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from aiokafka.structs import TopicPartition

from bus.errors import EventDecodeError
from bus.events import LIFECYCLE_EVENT
from bus.kafka import make_consumer, started, translate_errors
from bus.records import content_digest
from bus.settings import Settings
from bus.tlog.errors import NoCheckpointError
from bus.tlog.leaf import LeafRecord
from bus.tlog.proofs import log_store
from bus.tlog.settings import LogSettings
from signing import Frontier, leaf_hash, load_log_verifier, open_checkpoint

__all__ = ["FindingKind", "LogAudit", "LogFinding", "audit_log"]


class FindingKind(StrEnum):
    """What disagrees."""

    LEAF_ALTERED = "leaf-altered"
    SUBTREE_ALTERED = "subtree-altered"
    HISTORY_REWRITTEN = "history-rewritten"
    PACKAGE_MISSING = "package-missing"
    PACKAGE_ALTERED = "package-altered"
    EVENT_MISSING = "event-missing"
    EVENT_ALTERED = "event-altered"


@dataclass(frozen=True)
class LogFinding:
    """One disagreement, at one leaf (or one checkpoint size)."""

    kind: FindingKind
    leaf_index: int
    detail: str


@dataclass(frozen=True)
class LogAudit:
    """The audit's result: how much was checked and every disagreement found."""

    leaves: int
    checkpoints: int
    latest_checkpoint: int
    findings: tuple[LogFinding, ...]

    @property
    def ok(self) -> bool:
        """Whether the log, its checkpoints and Kafka agree."""
        return not self.findings


async def _read_wanted(
    settings: Settings, wanted: dict[tuple[str, int], dict[int, int]]
) -> dict[tuple[str, int, int], bytes | None]:
    """The values at the wanted offsets (leaf index by offset), ``None`` where absent."""
    found: dict[tuple[str, int, int], bytes | None] = {}
    async with started(make_consumer(settings), "reading the log's records") as consumer:
        for (topic, partition), offsets in sorted(wanted.items()):
            tp = TopicPartition(topic, partition)
            with translate_errors(f"reading {topic}"):
                consumer.assign([tp])
                end = (await consumer.end_offsets([tp]))[tp]
                first, last = min(offsets), max(offsets)
                consumer.seek(tp, first)
                position = first
                while position <= last and position < end:
                    batch = await consumer.getmany(tp, timeout_ms=5000)
                    records = batch.get(tp, [])
                    if not records:
                        break
                    for record in records:
                        if record.offset in offsets:  # a null value is an empty record
                            found[(topic, partition, record.offset)] = record.value or b""
                    position = records[-1].offset + 1
    return found


async def audit_log(settings: Settings, log_settings: LogSettings | None = None) -> LogAudit:
    """Check every stored leaf, every stored checkpoint and every record a leaf names."""
    verifier = load_log_verifier(settings.resolved_pki)
    with log_store(settings, log_settings) as store:
        stored = store.all_leaves()
        stored_nodes = store.all_nodes()
        checkpoints = store.checkpoints()
    if not checkpoints:
        raise NoCheckpointError("the log has published no checkpoint to audit against")
    findings: list[LogFinding] = []
    records: list[LeafRecord | None] = []
    frontier = Frontier()
    roots: dict[int, bytes] = {}
    for leaf in stored:
        computed = leaf_hash(leaf.record)
        if computed != leaf.leaf_hash:
            findings.append(
                LogFinding(
                    FindingKind.LEAF_ALTERED,
                    leaf.index,
                    "the stored record does not hash to the stored leaf",
                )
            )
        for level, index, digest in frontier.append(computed):
            if stored_nodes.pop((level, index), None) != digest:
                findings.append(
                    LogFinding(
                        FindingKind.SUBTREE_ALTERED,
                        index << level,
                        f"the stored hash of leaves {index << level}-{((index + 1) << level) - 1} "
                        "is not theirs",
                    )
                )
        roots[frontier.size] = frontier.root()
        try:
            records.append(LeafRecord.decode(leaf.record))
        except EventDecodeError as error:
            findings.append(LogFinding(FindingKind.LEAF_ALTERED, leaf.index, str(error)))
            records.append(None)
    for level, index in sorted(stored_nodes):
        findings.append(
            LogFinding(
                FindingKind.SUBTREE_ALTERED,
                index << level,
                "a stored subtree hash covers leaves the log does not hold",
            )
        )
    for checkpoint_row in checkpoints:
        checkpoint = open_checkpoint(checkpoint_row.note, [verifier])
        if checkpoint.size and roots.get(checkpoint.size) != checkpoint.root_hash:
            findings.append(
                LogFinding(
                    FindingKind.HISTORY_REWRITTEN,
                    checkpoint.size,
                    f"the stored leaves do not give the root the log signed for size "
                    f"{checkpoint.size}",
                )
            )
    packages: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    events: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    for index, record in enumerate(records):
        if record is None:
            continue
        packages[(record.submit.topic, record.submit.partition)][record.submit.offset] = index
        events[(record.event.topic, record.event.partition)][record.event.offset] = index
    values = await _read_wanted(settings, {**packages, **events})
    for index, record in enumerate(records):
        if record is not None:
            findings.extend(_check_records(index, record, values))
    return LogAudit(
        leaves=len(stored),
        checkpoints=len(checkpoints),
        latest_checkpoint=max(c.tree_size for c in checkpoints),
        findings=tuple(sorted(findings, key=lambda f: (f.leaf_index, f.kind))),
    )


def _check_records(
    index: int, leaf: LeafRecord, values: dict[tuple[str, int, int], bytes | None]
) -> list[LogFinding]:
    found: list[LogFinding] = []
    submit = leaf.submit
    package = values.get((submit.topic, submit.partition, submit.offset))
    where = f"{submit.topic}/{submit.partition}/{submit.offset}"
    if package is None:
        found.append(LogFinding(FindingKind.PACKAGE_MISSING, index, f"nothing at {where}"))
    elif content_digest(package) != leaf.digest:
        found.append(
            LogFinding(
                FindingKind.PACKAGE_ALTERED,
                index,
                f"the record at {where} is not the package the log recorded",
            )
        )
    at = leaf.event
    value = values.get((at.topic, at.partition, at.offset))
    where = f"{at.topic}/{at.partition}/{at.offset}"
    if value is None:
        found.append(LogFinding(FindingKind.EVENT_MISSING, index, f"nothing at {where}"))
        return found
    try:
        event = LIFECYCLE_EVENT.decode(value)
    except EventDecodeError:
        event = {}
    if event.get("event_id") != leaf.event_id or event.get("content_digest") != leaf.digest:
        found.append(
            LogFinding(
                FindingKind.EVENT_ALTERED,
                index,
                f"the event at {where} is another decision than the leaf's",
            )
        )
    return found
