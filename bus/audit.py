"""The auditor's replay: the Kafka log of ``edx.submit`` re-verified, independently of
the tracker, and compared with it (docs/AUDIT.md).

The tracker's tables are what clerks read; they are also what an insider could edit.
The log of ``edx.submit`` keeps every signed package forever, byte for byte. A replay
reads that log (never the tracker's tables) for a time window, re-verifies every
signature at the time the record was written, rebuilds each document's trail (the
document package, then every status about it), chains the steps with the same hash
chain the tracker uses, and then compares with the tracker, reporting every
divergence:

- ``missing``: the log holds a signed package (or one of its recipients) that the
  tracker does not record;
- ``extra``: the tracker records a package or a recipient the log does not hold;
- ``altered``: both hold it, but the tracker's digest, sender, status or actor differ;
- ``unverified``: the tracker shows a package as accepted whose signature does not
  verify.

Time windows: records are selected by their own timestamps. ``offsets_for_times`` is
not exact on every broker (Tansu), so the first offset is found by a binary search over
record timestamps, started an hour early (producer clocks drift), and every record is
then filtered by its timestamp here.

The rebuilt trail can be exported as an Avro container file (``audit_trail.v1``) that
``edx trail --from-file`` reads back and re-checks.

The parts live beside this module: ``_audit_model`` (the values), ``_audit_read``
(reading the log), ``_audit_verify`` (re-verifying), ``_audit_trails`` (rebuilding),
``_audit_compare`` (comparing) and ``_audit_export`` (the Avro file); this module
runs the whole replay.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bus._audit_compare import compare_with_tracker
from bus._audit_export import read_trail_file, write_trail_file
from bus._audit_model import (
    AUDIT_HASHED_FIELDS,
    AuditedPackage,
    AuditStep,
    Divergence,
    DivergenceKind,
    LogRecord,
    ReplayReport,
    ReplayWindow,
)
from bus._audit_model import CLOCK_SKEW as CLOCK_SKEW  # kept importable from here
from bus._audit_read import read_submit_log
from bus._audit_trails import build_trails
from bus._audit_verify import audit_record, verifier_from_settings
from bus.settings import Settings
from bus.store import create_store_engine
from signing import Verifier

__all__ = [
    "AUDIT_HASHED_FIELDS",
    "AuditStep",
    "AuditedPackage",
    "Divergence",
    "DivergenceKind",
    "LogRecord",
    "ReplayReport",
    "ReplayWindow",
    "audit_record",
    "build_trails",
    "compare_with_tracker",
    "read_submit_log",
    "read_trail_file",
    "run_replay",
    "verifier_from_settings",
    "write_trail_file",
]

Progress = Callable[[int, int], None]


# --- the whole replay ------------------------------------------------------------------


async def run_replay(
    settings: Settings,
    window: ReplayWindow | None = None,
    *,
    out: Path | None = None,
    progress: Progress | None = None,
    verifier: Verifier | None = None,
) -> ReplayReport:
    """Read, re-verify, rebuild, compare (and export): the auditor's replay."""
    window = window or ReplayWindow()
    started_at = time.monotonic()
    verifier = verifier or verifier_from_settings(settings)
    audited: list[AuditedPackage] = []
    read: set[tuple[int, int]] = set()

    def verify_batch(records: list[LogRecord]) -> list[AuditedPackage]:
        return [audit_record(r, verifier, agency_pattern=settings.agency_pattern)
                for r in records]

    async def on_batch(records: list[LogRecord], done: int, total: int) -> None:
        read.update((r.partition, r.offset) for r in records)
        if records:
            audited.extend(await asyncio.to_thread(verify_batch, records))
        if progress is not None:
            progress(done, total)

    records = await read_submit_log(settings, window, on_batch)
    chosen = [p for p in audited if p.involves(window.agency)]
    trails = build_trails(chosen)
    engine = create_store_engine(settings.resolved_db_url, must_exist=True)
    try:
        divergences = await asyncio.to_thread(
            compare_with_tracker, engine, chosen, window,
            submit_topic=settings.topics.submit, read_coordinates=read)
    finally:
        engine.dispose()
    if out is not None:
        await asyncio.to_thread(write_trail_file, out, trails, window)
    reasons: dict[str, int] = defaultdict(int)
    for package in chosen:
        if not package.verified:
            reasons[package.reason_code or "unknown"] += 1
    return ReplayReport(
        window=window,
        records_read=len(records),
        packages=len(chosen),
        verified=sum(p.verified for p in chosen),
        unverified=sum(not p.verified for p in chosen),
        documents=len(trails),
        trail_steps=sum(len(chain) for chain in trails.values()),
        divergences=tuple(divergences),
        seconds=time.monotonic() - started_at,
        unverified_reasons=dict(reasons),
    )
