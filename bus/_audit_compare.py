"""Comparing re-verified packages with the tracker's tables: every ``missing``,
``extra``, ``altered`` and ``unverified`` divergence (docs/AUDIT.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, select

from bus._audit_model import CLOCK_SKEW, AuditedPackage, Divergence, DivergenceKind, ReplayWindow
from bus.store import translate_errors as translate_db_errors
from bus.store.schema import STEP_COLUMNS, deliveries, documents, history

__all__ = ["compare_with_tracker"]


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def compare_with_tracker(
    engine: Engine,
    packages: Sequence[AuditedPackage],
    window: ReplayWindow,
    *,
    submit_topic: str,
    read_coordinates: set[tuple[int, int]],
    log_ends: dict[int, int] | None = None,
) -> list[Divergence]:
    """Every divergence between the verified packages and the tracker's tables.

    ``read_coordinates`` are the (partition, offset) pairs the replay read (in the
    window or not): a tracker row pointing elsewhere in the window is ``extra``.
    """
    chosen = [p for p in packages if p.involves(window.agency)]
    document_ids = sorted({p.document_id for p in chosen if p.document_id})
    docs: dict[str, Any] = {}
    rows: dict[tuple[str, str], Any] = {}
    by_source: dict[tuple[int, int], list[Any]] = defaultdict(list)
    with translate_db_errors(), engine.connect() as connection:
        for chunk in _chunks(document_ids):
            for row in connection.execute(
                    select(documents).where(documents.c.document_id.in_(chunk))).mappings():
                docs[row["document_id"]] = row
            for row in connection.execute(
                    select(deliveries).where(deliveries.c.document_id.in_(chunk))).mappings():
                rows[(row["document_id"], row["recipient"])] = row
        query = select(history).where(history.c.source_topic == submit_topic)
        if window.since is not None:
            query = query.where(history.c.occurred_at >= window.since - CLOCK_SKEW)
        if window.until is not None:
            query = query.where(history.c.occurred_at <= window.until + CLOCK_SKEW)
        for row in connection.execute(query).mappings():
            by_source[(row["source_partition"], row["source_offset"])].append(row)

    found: list[Divergence] = []
    listed: dict[str, set[str]] = defaultdict(set)
    for package in chosen:
        found.extend(_check_package(package, docs, rows, by_source, listed))
    # Recipients the tracker holds that no package in the log names.
    for (document_id, recipient), row in sorted(rows.items()):
        if document_id in listed and recipient not in listed[document_id] and (
                row["status_code"] != "13" or row["delivered_at"] is not None):
            found.append(Divergence(DivergenceKind.EXTRA, document_id,
                                    "the tracker records a recipient no package names",
                                    recipient=recipient))
    # Tracker steps that point at records the log does not hold.
    for (partition, offset), steps in sorted(by_source.items()):
        if (partition, offset) in read_coordinates:
            continue
        if log_ends is not None and offset >= log_ends.get(partition, 0):
            continue  # written after the replay started
        for step in steps:
            if step["kind"] not in {"SUBMITTED", "STATUS"}:
                continue
            if not window.contains(step["occurred_at"]):
                continue
            if window.agency and window.agency not in (step["actor"], step["recipient"]):
                continue
            found.append(Divergence(
                DivergenceKind.EXTRA, step["document_id"],
                f"the tracker records a {step['kind']} step the log does not hold",
                recipient=step["recipient"],
                coordinates=f"{submit_topic}/{partition}/{offset}"))
    return found


def _check_package(
    package: AuditedPackage,
    docs: dict[str, Any],
    rows: dict[tuple[str, str], Any],
    by_source: dict[tuple[int, int], list[Any]],
    listed: dict[str, set[str]],
) -> list[Divergence]:
    record = package.record
    coordinates = record.coordinates
    steps = by_source.get((record.partition, record.offset), [])
    document_id = package.document_id or "(unreadable)"
    refused = any(s["kind"] == "REJECTED" for s in steps)
    accepted = [s for s in steps if s["kind"] != "REJECTED"]

    def divergence(kind: DivergenceKind, what: str, recipient: str | None = None) -> Divergence:
        return Divergence(kind, document_id, what, recipient, coordinates)

    if not package.verified:
        if accepted:
            return [divergence(DivergenceKind.UNVERIFIED,
                               f"the tracker shows this package accepted but its signature "
                               f"does not verify ({package.reason_code})")]
        return []
    if refused and not accepted:
        return []  # the router refused it; nothing of it should be recorded
    out: list[Divergence] = []
    for step in accepted:
        if step["content_digest"] != package.content_digest:
            out.append(divergence(DivergenceKind.ALTERED,
                                  f"the tracker's {step['kind']} step has another digest"))
            break
    if package.kind == "SUBMITTED":
        listed[document_id].update(package.recipients)
        doc = docs.get(document_id)
        if doc is None or not any(s["kind"] == "SUBMITTED" for s in accepted):
            out.append(divergence(DivergenceKind.MISSING,
                                  "the tracker has no record of this document package"))
            if doc is None:
                return out
        elif doc["sender"] != package.actor:
            out.append(divergence(DivergenceKind.ALTERED,
                                  f"the tracker names sender {doc['sender']}, "
                                  f"the signed package {package.actor}"))
        for recipient in package.recipients:
            if (document_id, recipient) not in rows:
                out.append(divergence(DivergenceKind.MISSING,
                                      "the tracker has no delivery to this recipient",
                                      recipient))
        return out
    # A status package.
    code = package.status_code or ""
    mine = [s for s in accepted if s["kind"] == "STATUS"]
    if not mine:
        out.append(divergence(DivergenceKind.MISSING,
                              f"the tracker has no record of status {code} from {package.actor}",
                              package.actor))
        return out
    for step in mine:
        if step["status_code"] != code or step["actor"] != package.actor:
            out.append(divergence(
                DivergenceKind.ALTERED,
                f"the tracker records status {step['status_code']} from {step['actor']}, "
                f"the signed package {code} from {package.actor}", package.actor))
    if code != "13":
        row = rows.get((document_id, package.actor or ""))
        column = STEP_COLUMNS.get(code)
        if row is None:
            out.append(divergence(DivergenceKind.MISSING,
                                  "the tracker has no delivery row for this reporting agency",
                                  package.actor))
        elif column is not None and row[column] is None:
            out.append(divergence(DivergenceKind.ALTERED,
                                  f"the tracker's delivery shows no step {code}",
                                  package.actor))
    return out
