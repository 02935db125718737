"""Rebuilding each document's trail from re-verified packages, hash-chained with the
same chain the tracker uses, so the two can be compared and the trail exported."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from bus.audit.model import AUDIT_HASHED_FIELDS, AuditedPackage, AuditStep
from bus.store.chain import GENESIS, row_hash

__all__ = ["KeptSteps", "build_trails"]


class KeptSteps:
    """The packages a replay keeps to export as trails, without their bytes."""

    def __init__(self) -> None:
        self._packages: list[AuditedPackage] = []

    def keep(self, packages: Iterable[AuditedPackage]) -> None:
        self._packages.extend(replace(p, record=replace(p.record, value=None)) for p in packages)

    def trails(self) -> dict[str, list[AuditStep]]:
        return build_trails(self._packages)


def build_trails(packages: Iterable[AuditedPackage]) -> dict[str, list[AuditStep]]:
    """Each document's steps in record-time order, hash-chained like the tracker's."""
    by_document: dict[str, list[AuditedPackage]] = defaultdict(list)
    for package in packages:
        if package.on_trail and package.document_id:
            by_document[package.document_id].append(package)
    trails: dict[str, list[AuditStep]] = {}
    for document_id, steps in by_document.items():
        steps.sort(key=lambda p: (p.record.timestamp, p.record.partition, p.record.offset))
        previous = GENESIS
        chain: list[AuditStep] = []
        for sequence, package in enumerate(steps, start=1):
            assert package.step is not None  # on_trail
            step = AuditStep(
                document_id=document_id,
                sequence=sequence,
                kind=package.step,
                occurred_at=package.record.timestamp,
                actor=package.actor or "",
                recipients=package.recipients,
                status_code=package.status_code,
                description=package.description,
                content_digest=package.content_digest,
                source_topic=package.record.topic,
                source_partition=package.record.partition,
                source_offset=package.record.offset,
                verified=package.verified,
                reason_code=package.reason_code,
                signer_agency=package.signer_agency,
                signer_fingerprint=package.signer_fingerprint,
                prev_hash=previous,
                row_hash="",
            )
            step = replace(step, row_hash=row_hash(step.as_row(), AUDIT_HASHED_FIELDS))
            previous = step.row_hash
            chain.append(step)
        trails[document_id] = chain
    return trails
