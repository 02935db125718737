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
from dataclasses import replace
from pathlib import Path

from bus._audit_compare import TrackerComparison, compare_with_tracker
from bus._audit_export import read_trail_file, write_trail_file
from bus._audit_log import LogLeaves, check_log, log_anchors, open_log
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
from bus.tlog.settings import LogSettings
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
    log_settings: LogSettings | None = None,
) -> ReplayReport:
    """Read, re-verify, compare (and export): the auditor's replay, one batch at a time.

    When the system keeps a transparency log (``log_settings``, else ``EDX_LOG_DB_URL``
    or ``$EDX_HOME/log.db``), every decision the tracker records must have its leaf,
    and the log must pass :func:`bus.tlog.audit_log` (leaves, signed checkpoints and
    the Kafka records they name); its findings are divergences of kind ``log``.

    Each batch of records read from ``edx.submit`` is verified, compared with the
    tracker and dropped, so memory does not grow with the log; what is kept is a few
    bytes a record (the offsets read, the document ids counted) and, with ``out``, the
    trail steps to export (without the package bytes).
    """
    window = window or ReplayWindow()
    started_at = time.monotonic()
    verifier = verifier or verifier_from_settings(settings)
    engine = create_store_engine(settings.resolved_db_url, must_exist=True)
    log_engine = open_log(settings, log_settings)
    leaves = None if log_engine is None else LogLeaves(log_engine, log_anchors(settings))
    comparison = TrackerComparison(engine, window, submit_topic=settings.topics.submit, log=leaves)
    tally = _Tally()
    kept: list[AuditedPackage] = []

    def handle(records: list[LogRecord]) -> None:
        if leaves is not None:
            records = leaves.trusted_times(records)
        audited = [
            audit_record(r, verifier, agency_pattern=settings.agency_pattern) for r in records
        ]
        chosen = [p for p in audited if p.involves(window.agency)]
        for record in records:
            comparison.note_read(record.partition, record.offset)
        comparison.check(chosen)
        tally.count(len(records), chosen)
        if out is not None:
            kept.extend(replace(p, record=replace(p.record, value=None)) for p in chosen)

    async def on_batch(records: list[LogRecord], done: int, total: int) -> None:
        if records:
            await asyncio.to_thread(handle, records)
        if progress is not None:
            progress(done, total)

    try:
        await read_submit_log(settings, window, on_batch, keep=False)
        divergences = await asyncio.to_thread(comparison.finish)
    finally:
        engine.dispose()
        if log_engine is not None:
            log_engine.dispose()
    log_check = None if log_engine is None else await check_log(settings, log_settings)
    if log_check is not None:
        divergences = [*divergences, *log_check.divergences]
    if out is not None:
        await asyncio.to_thread(write_trail_file, out, build_trails(kept), window)
    return ReplayReport(
        window=window,
        records_read=tally.records,
        packages=tally.packages,
        verified=tally.verified,
        unverified=tally.packages - tally.verified,
        documents=len(tally.documents),
        trail_steps=tally.steps,
        divergences=tuple(divergences),
        seconds=time.monotonic() - started_at,
        unverified_reasons=dict(tally.reasons),
        producer_timed=tally.producer_timed,
        refusals=dict(comparison.refusals),
        log_leaves=None if log_check is None or log_check.note else log_check.leaves,
        log_checkpoint=None if log_check is None else log_check.latest_checkpoint,
        log_note="no transparency log found" if log_check is None else log_check.note,
    )


class _Tally:
    """The replay's running counts (the document ids are the only thing that grows)."""

    def __init__(self) -> None:
        self.records = 0
        self.packages = 0
        self.verified = 0
        self.steps = 0
        self.producer_timed = 0
        self.documents: set[str] = set()
        self.reasons: dict[str, int] = defaultdict(int)

    def count(self, records: int, chosen: list[AuditedPackage]) -> None:
        self.records += records
        self.packages += len(chosen)
        for package in chosen:
            if package.verified:
                self.verified += 1
            else:
                self.reasons[package.reason_code or "unknown"] += 1
            if package.record.trusted_time is None:
                self.producer_timed += 1
            if package.document_id and package.kind != "UNREADABLE":
                self.documents.add(package.document_id)
                self.steps += 1
