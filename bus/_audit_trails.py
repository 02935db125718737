"""Rebuilding each document's trail from re-verified packages, hash-chained with the
same chain the tracker uses, so the two can be compared and the trail exported."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bus._audit_model import AUDIT_HASHED_FIELDS, AuditedPackage, AuditStep
from bus.store.chain import GENESIS, row_hash

__all__ = ["build_trails"]


def build_trails(packages: Iterable[AuditedPackage]) -> dict[str, list[AuditStep]]:
    """Each document's steps in record-time order, hash-chained like the tracker's."""
    by_document: dict[str, list[AuditedPackage]] = defaultdict(list)
    for package in packages:
        if package.document_id and package.kind != "UNREADABLE":
            by_document[package.document_id].append(package)
    trails: dict[str, list[AuditStep]] = {}
    for document_id, steps in by_document.items():
        steps.sort(key=lambda p: (p.record.timestamp, p.record.partition, p.record.offset))
        previous = GENESIS
        chain: list[AuditStep] = []
        for sequence, package in enumerate(steps, start=1):
            row: dict[str, Any] = {
                "document_id": document_id,
                "sequence": sequence,
                "kind": package.kind,
                "occurred_at": package.record.timestamp,
                "actor": package.actor or "",
                "recipients": list(package.recipients),
                "status_code": package.status_code,
                "description": package.description,
                "content_digest": package.content_digest,
                "source_topic": package.record.topic,
                "source_partition": package.record.partition,
                "source_offset": package.record.offset,
                "verified": package.verified,
                "reason_code": package.reason_code,
                "signer_agency": package.signer_agency,
                "signer_fingerprint": package.signer_fingerprint,
                "prev_hash": previous,
            }
            row["row_hash"] = row_hash(row, AUDIT_HASHED_FIELDS)
            previous = row["row_hash"]
            row["recipients"] = tuple(row["recipients"])
            chain.append(AuditStep(**row))
        trails[document_id] = chain
    return trails
