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

The leaves are read in chunks, and for each chunk Kafka is read partition by
partition, from the lowest offset its leaves name to the highest (rather than
seeking per leaf): the audit's memory is one chunk, whatever the log's size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bus.errors import EventDecodeError
from bus.kafka import make_consumer, started, translate_errors
from bus.lifecycle import decode_event
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


#: Leaves audited at a time: the audit's memory is one chunk, whatever the log's size.
_CHUNK = 5000


async def _read_wanted(
    consumer: AIOKafkaConsumer, wanted: dict[tuple[str, int], dict[int, int]]
) -> dict[tuple[str, int, int], bytes | None]:
    """The values at the wanted offsets (leaf index by offset), absent where missing."""
    found: dict[tuple[str, int, int], bytes | None] = {}
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
    """Check every stored leaf, every stored checkpoint and every record a leaf names.

    The leaves are read in chunks of :data:`_CHUNK`: each chunk is rehashed into the
    tree, its completed subtrees compared with the stored ones, and the Kafka records
    it names read and compared, before the next is read.
    """
    verifier = load_log_verifier(settings.resolved_pki)
    findings: list[LogFinding] = []
    with log_store(settings, log_settings) as store:
        checkpoints = store.checkpoints()
        if not checkpoints:
            raise NoCheckpointError("the log has published no checkpoint to audit against")
        signed: dict[int, bytes] = {}
        for checkpoint_row in checkpoints:
            checkpoint = open_checkpoint(checkpoint_row.note, [verifier])
            if checkpoint.size:
                signed[checkpoint.size] = checkpoint.root_hash
        frontier = Frontier()
        async with started(make_consumer(settings), "reading the log's records") as consumer:
            for chunk in store.leaf_chunks(_CHUNK):
                completed: list[tuple[int, int, bytes]] = []
                records: list[tuple[int, LeafRecord]] = []
                for leaf in chunk:
                    computed = leaf_hash(leaf.record)
                    if computed != leaf.leaf_hash:
                        findings.append(
                            LogFinding(
                                FindingKind.LEAF_ALTERED,
                                leaf.index,
                                "the stored record does not hash to the stored leaf",
                            )
                        )
                    completed.extend(frontier.append(computed))
                    root = signed.get(frontier.size)
                    if root is not None and frontier.root() != root:
                        findings.append(_rewritten(frontier.size))
                    try:
                        records.append((leaf.index, LeafRecord.decode(leaf.record)))
                    except EventDecodeError as error:
                        findings.append(
                            LogFinding(FindingKind.LEAF_ALTERED, leaf.index, str(error))
                        )
                stored_nodes = store.nodes_at((level, index) for level, index, _ in completed)
                for level, index, digest in completed:
                    if stored_nodes.get((level, index)) != digest:
                        findings.append(
                            LogFinding(
                                FindingKind.SUBTREE_ALTERED,
                                index << level,
                                f"the stored hash of leaves {index << level}-"
                                f"{((index + 1) << level) - 1} is not theirs",
                            )
                        )
                wanted: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
                for index, record in records:
                    wanted[(record.submit.topic, record.submit.partition)][record.submit.offset] = (
                        index
                    )
                    wanted[(record.event.topic, record.event.partition)][record.event.offset] = (
                        index
                    )
                values = await _read_wanted(consumer, wanted)
                for index, record in records:
                    findings.extend(_check_records(index, record, values))
        size = frontier.size
        for level, index in store.nodes_beyond(size):
            findings.append(
                LogFinding(
                    FindingKind.SUBTREE_ALTERED,
                    index << level,
                    "a stored subtree hash covers leaves the log does not hold",
                )
            )
    findings.extend(
        _rewritten(checkpoint_size) for checkpoint_size in sorted(signed) if checkpoint_size > size
    )
    return LogAudit(
        leaves=size,
        checkpoints=len(checkpoints),
        latest_checkpoint=max(c.tree_size for c in checkpoints),
        findings=tuple(sorted(findings, key=lambda f: (f.leaf_index, f.kind))),
    )


def _rewritten(size: int) -> LogFinding:
    return LogFinding(
        FindingKind.HISTORY_REWRITTEN,
        size,
        f"the stored leaves do not give the root the log signed for size {size}",
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
        event = decode_event(value)
    except EventDecodeError:
        event = None
    if event is None or (event.event_id, event.content_digest) != (leaf.event_id, leaf.digest):
        found.append(
            LogFinding(
                FindingKind.EVENT_ALTERED,
                index,
                f"the event at {where} is another decision than the leaf's",
            )
        )
    return found
