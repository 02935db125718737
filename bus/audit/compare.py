"""Comparing re-verified packages with the tracker's tables: every ``missing``,
``extra``, ``altered`` and ``unverified`` divergence (docs/AUDIT.md).

The comparison runs batch by batch as the replay reads the log, so its memory does
not grow with the log: each batch's documents, deliveries and history rows are read
for that batch only, and what is kept between batches is the offsets read (eight
bytes a record, for the last pass over the tracker's steps).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Engine, RowMapping, and_, or_, select

from bus.audit.model import (
    CLOCK_SKEW,
    AuditedPackage,
    Divergence,
    DivergenceKind,
    ReplayWindow,
    TrackedStep,
)
from bus.lifecycle import EventKind, PackageKind
from bus.sql import database_errors
from bus.store.engine import TRACKER_DATABASE
from bus.store.schema import STEP_COLUMNS, deliveries, documents, history
from edxml import StatusCode

__all__ = ["LeafCheck", "TrackerComparison", "compare_with_tracker"]


class LeafCheck(Protocol):
    """What checks each tracker decision against the transparency log's leaves."""

    def check(self, decided: Sequence[tuple[AuditedPackage, TrackedStep]]) -> list[Divergence]: ...


#: The tracker's steps that stand for an accepted package on ``edx.submit``.
_ACCEPTED_STEPS = (EventKind.SUBMITTED.value, EventKind.STATUS.value)


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class TrackerComparison:
    """The tracker's tables checked against the log, one batch of packages at a time.

    :meth:`check` compares a batch of re-verified packages (in the window and chosen
    for the agency); :meth:`finish` then streams the tracker's steps once to find those
    that point at log records the replay did not read (``extra``).
    """

    def __init__(
        self,
        engine: Engine,
        window: ReplayWindow,
        *,
        submit_topic: str,
        log: LeafCheck | None = None,
    ) -> None:
        self._engine = engine
        self._log = log
        self._window = window
        self._topic = submit_topic
        self._read: dict[int, array[int]] = defaultdict(lambda: array("q"))
        self._sorted = True
        self.found: list[Divergence] = []
        #: Packages the router refused (the tracker's REJECTED step), by reason code.
        self.refused = 0
        self.refusals: dict[str, int] = defaultdict(int)

    def note_read(self, partition: int, offset: int) -> None:
        """Remember that the replay read ``partition``/``offset`` (in the window)."""
        offsets = self._read[partition]
        if offsets and offsets[-1] >= offset:
            self._sorted = False
        offsets.append(offset)

    def check(self, packages: Sequence[AuditedPackage]) -> list[Divergence]:
        """Every divergence of one batch of packages (also kept in :attr:`found`)."""
        if not packages:
            return []
        document_ids = sorted({p.document_id for p in packages if p.document_id})
        docs: dict[str, Any] = {}
        rows: dict[tuple[str, str], Any] = {}
        by_source: dict[tuple[int, int], list[TrackedStep]] = defaultdict(list)
        spans: dict[int, tuple[int, int]] = {}
        for package in packages:
            low, high = spans.get(
                package.record.partition, (package.record.offset, package.record.offset)
            )
            spans[package.record.partition] = (
                min(low, package.record.offset),
                max(high, package.record.offset),
            )
        with database_errors(TRACKER_DATABASE), self._engine.connect() as connection:
            for chunk in _chunks(document_ids):
                for row in connection.execute(
                    select(documents).where(documents.c.document_id.in_(chunk))
                ).mappings():
                    docs[row["document_id"]] = row
                for row in connection.execute(
                    select(deliveries).where(deliveries.c.document_id.in_(chunk))
                ).mappings():
                    rows[(row["document_id"], row["recipient"])] = row
            query = select(history).where(
                history.c.source_topic == self._topic,
                or_(
                    *(
                        and_(
                            history.c.source_partition == partition,
                            history.c.source_offset.between(low, high),
                        )
                        for partition, (low, high) in spans.items()
                    )
                ),
            )
            for row in connection.execute(query).mappings():
                step = _tracked(row)
                by_source[(step.source_partition, step.source_offset)].append(step)
        found: list[Divergence] = []
        listed: dict[str, set[str]] = defaultdict(set)
        for package in packages:
            steps = by_source.get((package.record.partition, package.record.offset), [])
            if steps and all(step.refusal for step in steps):
                self.refused += 1
                self.refusals[steps[0].reason_code or "refused"] += 1
            found.extend(_check_package(package, docs, rows, by_source, listed))
        if self._log is not None:
            found.extend(
                self._log.check(
                    [
                        (package, step)
                        for package in packages
                        for step in by_source.get(
                            (package.record.partition, package.record.offset), []
                        )
                    ]
                )
            )
        # Recipients the tracker holds that no document package of this batch names.
        for (document_id, recipient), row in sorted(rows.items()):
            if (
                document_id in listed
                and recipient not in listed[document_id]
                and (row["status_code"] != StatusCode.TAKE_BACK or row["delivered_at"] is not None)
            ):
                found.append(
                    Divergence(
                        DivergenceKind.EXTRA,
                        document_id,
                        "the tracker records a recipient no package names",
                        recipient=recipient,
                    )
                )
        self.found.extend(found)
        return found

    def _was_read(self, partition: int, offset: int) -> bool:
        offsets = self._read.get(partition)
        if not offsets:
            return False
        at = bisect_left(offsets, offset)
        return at < len(offsets) and offsets[at] == offset

    def finish(self, log_ends: dict[int, int] | None = None) -> list[Divergence]:
        """Tracker steps pointing at ``edx.submit`` records the replay did not read.

        ``log_ends`` (the end of each partition when the replay started) spares steps
        of records written since. Returns every divergence found, batches included.
        """
        if not self._sorted:
            self._read = defaultdict(
                lambda: array("q"), {p: array("q", sorted(o)) for p, o in self._read.items()}
            )
            self._sorted = True
        window = self._window
        query = select(
            history.c.document_id,
            history.c.kind,
            history.c.actor,
            history.c.recipient,
            history.c.occurred_at,
            history.c.source_partition,
            history.c.source_offset,
        ).where(history.c.source_topic == self._topic, history.c.kind.in_(_ACCEPTED_STEPS))
        if window.since is not None:
            query = query.where(history.c.occurred_at >= window.since - CLOCK_SKEW)
        if window.until is not None:
            query = query.where(history.c.occurred_at <= window.until + CLOCK_SKEW)
        query = query.order_by(
            history.c.source_partition,
            history.c.source_offset,
            history.c.document_id,
            history.c.sequence,
        )
        with database_errors(TRACKER_DATABASE), self._engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=2000)
            for step in result.execute(query).mappings():
                partition, offset = step["source_partition"], step["source_offset"]
                if self._was_read(partition, offset):
                    continue
                if log_ends is not None and offset >= log_ends.get(partition, 0):
                    continue  # written after the replay started
                if not window.contains(step["occurred_at"]):
                    continue
                if window.agency and window.agency not in (step["actor"], step["recipient"]):
                    continue
                self.found.append(
                    Divergence(
                        DivergenceKind.EXTRA,
                        step["document_id"],
                        f"the tracker records a {step['kind']} step the log does not hold",
                        recipient=step["recipient"],
                        coordinates=f"{self._topic}/{partition}/{offset}",
                    )
                )
        return self.found


def compare_with_tracker(
    engine: Engine,
    packages: Sequence[AuditedPackage],
    window: ReplayWindow,
    *,
    submit_topic: str,
    read_coordinates: set[tuple[int, int]],
    log_ends: dict[int, int] | None = None,
) -> list[Divergence]:
    """Every divergence between the verified packages and the tracker's tables, at once.

    ``read_coordinates`` are the (partition, offset) pairs the replay read: a tracker
    row pointing elsewhere in the window is ``extra``.
    """
    comparison = TrackerComparison(engine, window, submit_topic=submit_topic)
    for partition, offset in sorted(read_coordinates):
        comparison.note_read(partition, offset)
    comparison.check([p for p in packages if p.involves(window.agency)])
    return comparison.finish(log_ends)


def _tracked(row: RowMapping) -> TrackedStep:
    """The step of one ``history`` row."""
    return TrackedStep(
        document_id=row["document_id"],
        kind=row["kind"],
        actor=row["actor"],
        recipient=row["recipient"],
        status_code=row["status_code"],
        reason_code=row["reason_code"],
        content_digest=row["content_digest"],
        source_partition=row["source_partition"],
        source_offset=row["source_offset"],
        events_topic=row["events_topic"],
        events_partition=row["events_partition"],
        events_offset=row["events_offset"],
    )


def _check_package(
    package: AuditedPackage,
    docs: dict[str, Any],
    rows: dict[tuple[str, str], Any],
    by_source: dict[tuple[int, int], list[TrackedStep]],
    listed: dict[str, set[str]],
) -> list[Divergence]:
    record = package.record
    coordinates = record.coordinates
    steps = by_source.get((record.partition, record.offset), [])
    document_id = package.document_id or "(unreadable)"
    refused = any(s.refusal for s in steps)
    accepted = [s for s in steps if not s.refusal]

    def divergence(kind: DivergenceKind, what: str, recipient: str | None = None) -> Divergence:
        return Divergence(kind, document_id, what, recipient, coordinates)

    if refused and not accepted:
        return []  # a refusal: a step of the trail, nothing of it delivered
    if not package.verified:
        if accepted:
            return [
                divergence(
                    DivergenceKind.UNVERIFIED,
                    f"the tracker shows this package accepted but its signature "
                    f"does not verify ({package.reason_code})",
                )
            ]
        return [
            divergence(
                DivergenceKind.MISSING,
                f"the tracker records no refusal of this package, whose signature "
                f"does not verify ({package.reason_code})",
            )
        ]
    out: list[Divergence] = []
    for step in accepted:
        if step.content_digest != package.content_digest:
            out.append(
                divergence(
                    DivergenceKind.ALTERED, f"the tracker's {step.kind} step has another digest"
                )
            )
            break
    if package.kind is PackageKind.DOCUMENT:
        listed[document_id].update(package.recipients)
        doc = docs.get(document_id)
        if doc is None or not any(s.kind == EventKind.SUBMITTED for s in accepted):
            out.append(
                divergence(
                    DivergenceKind.MISSING, "the tracker has no record of this document package"
                )
            )
            if doc is None:
                return out
        elif doc["sender"] != package.actor:
            out.append(
                divergence(
                    DivergenceKind.ALTERED,
                    f"the tracker names sender {doc['sender']}, the signed package {package.actor}",
                )
            )
        for recipient in package.recipients:
            if (document_id, recipient) not in rows:
                out.append(
                    divergence(
                        DivergenceKind.MISSING,
                        "the tracker has no delivery to this recipient",
                        recipient,
                    )
                )
        return out
    # A status package.
    code = package.status_code
    mine = [s for s in accepted if s.kind == EventKind.STATUS]
    if not mine:
        out.append(
            divergence(
                DivergenceKind.MISSING,
                f"the tracker has no record of status {code} from {package.actor}",
                package.actor,
            )
        )
        return out
    for step in mine:
        if step.status_code != code or step.actor != package.actor:
            out.append(
                divergence(
                    DivergenceKind.ALTERED,
                    f"the tracker records status {step.status_code} from {step.actor}, "
                    f"the signed package {code} from {package.actor}",
                    package.actor,
                )
            )
    if code is not StatusCode.TAKE_BACK:
        row = rows.get((document_id, package.actor or ""))
        column = None if code is None else STEP_COLUMNS.get(code.value)
        if row is None:
            out.append(
                divergence(
                    DivergenceKind.MISSING,
                    "the tracker has no delivery row for this reporting agency",
                    package.actor,
                )
            )
        elif column is not None and row[column] is None:
            out.append(
                divergence(
                    DivergenceKind.ALTERED,
                    f"the tracker's delivery shows no step {code}",
                    package.actor,
                )
            )
    return out
