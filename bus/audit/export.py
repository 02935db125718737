"""The rebuilt trail as an Avro container file (``audit_trail.v1``, loaded from
``bus/schemas``), and reading such a file back with each hash chain re-checked."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

from bus.audit.model import AUDIT_HASHED_FIELDS, AuditStep, ReplayWindow
from bus.errors import TrailFileError, UnknownDocumentError
from bus.lifecycle import EventKind, PackageKind
from bus.store.chain import verify_chain
from bus.store.queries import Trail, TrailEntry

__all__ = ["read_trail_file", "write_trail_file"]

_TRAIL_SCHEMA_NAME = "vn.edxbus.audit.AuditTrailStep"


def _trail_schema() -> dict[str, Any]:
    text = resources.files("bus").joinpath("schemas/audit_trail.v1.avsc").read_text("utf-8")
    parsed = fastavro.parse_schema(json.loads(text))
    if not isinstance(parsed, dict):
        raise TrailFileError("audit_trail.v1.avsc is not a record schema")
    return parsed


def write_trail_file(path: Path, trails: dict[str, list[AuditStep]], window: ReplayWindow) -> int:
    """Write every step to an Avro container file at ``path`` (atomically). Returns steps."""
    steps = [step.as_row() for _, chain in sorted(trails.items()) for step in chain]
    metadata = {
        "edx.kind": "audit-trail",
        "edx.since": window.since.isoformat() if window.since else "",
        "edx.until": window.until.isoformat() if window.until else "",
        "edx.agency": window.agency or "",
        "edx.written_at": datetime.now(UTC).isoformat(),
    }
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as handle:
            fastavro.writer(handle, _trail_schema(), steps, codec="deflate", metadata=metadata)
        os.replace(partial, path)
    except OSError as error:
        raise TrailFileError(f"cannot write {path}: {error.strerror or error}") from error
    return len(steps)


def read_trail_file(path: Path, document_id: str | None = None) -> list[Trail]:
    """The trails in an exported file, each with its hash chain re-checked."""
    try:
        with path.open("rb") as handle:
            reader = fastavro.reader(handle)
            name = (
                reader.writer_schema.get("name") if isinstance(reader.writer_schema, dict) else None
            )
            if name not in {_TRAIL_SCHEMA_NAME, "AuditTrailStep"}:
                raise TrailFileError(f"{path} is an Avro file but not an edxbus audit trail")
            steps = [dict(step) for step in reader if isinstance(step, dict)]
    except OSError as error:
        raise TrailFileError(f"cannot read {path}: {error.strerror or error}") from error
    except (ValueError, EOFError) as error:
        raise TrailFileError(f"{path} is not a readable audit trail file: {error}") from error
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in steps:
        if document_id is None or step["document_id"] == document_id:
            grouped[step["document_id"]].append(step)
    if document_id is not None and not grouped:
        raise UnknownDocumentError(document_id)
    trails = []
    for doc_id, chain in sorted(grouped.items()):
        chain.sort(key=lambda s: s["sequence"])
        check = verify_chain(doc_id, chain, AUDIT_HASHED_FIELDS)
        entries = tuple(
            TrailEntry(
                sequence=s["sequence"],
                event_id="",
                kind=s["kind"],
                occurred_at=s["occurred_at"],
                actor=s["actor"],
                recipient=", ".join(s["recipients"]) or None,
                package_kind=(
                    PackageKind.STATUS if s["kind"] == EventKind.STATUS else PackageKind.DOCUMENT
                ).value,
                status_code=s["status_code"],
                description=s["description"],
                reason_code=s["reason_code"] if not s["verified"] else None,
                content_digest=s["content_digest"],
                source_topic=s["source_topic"],
                source_partition=s["source_partition"],
                source_offset=s["source_offset"],
                events_topic="",
                events_partition=-1,
                events_offset=-1,
                prev_hash=s["prev_hash"],
                row_hash=s["row_hash"],
            )
            for s in chain
        )
        trails.append(Trail(doc_id, entries, check))
    return trails
