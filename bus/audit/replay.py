"""The replay, top-down: :func:`run_replay` wires the steps from settings, then a
:class:`Replay` takes ``edx.submit`` one batch at a time:

1. read: the window's records (:func:`bus.audit.read.read_submit_log`);
2. date: each record the broker did not date gets the time-stamp of the first
   checkpoint holding its leaf (:class:`bus.audit.log.LogLeaves`);
3. verify: each package through the read path at that time
   (:func:`bus.audit.verify.audit_record`, the router's verdict);
4. choose: the packages the window's agency sent or received;
5. compare: with the tracker's tables and the log's leaves
   (:class:`bus.audit.compare.TrackerComparison`);
6. count (:class:`Tally`) and keep the steps to export
   (:class:`bus.audit.trails.KeptSteps`).

Then the tracker's steps the log does not hold, the transparency log's own audit
(:func:`bus.audit.log.check_log`), the exported trail (:mod:`bus.audit.export`) and
the report.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

from bus.audit.compare import TrackerComparison
from bus.audit.export import write_trail_file
from bus.audit.log import LogCheck, LogLeaves, check_log, log_anchors, open_log
from bus.audit.model import AuditedPackage, Divergence, LogRecord, ReplayReport, ReplayWindow
from bus.audit.read import read_submit_log
from bus.audit.trails import KeptSteps
from bus.audit.verify import audit_record
from bus.settings import Settings
from bus.store import create_store_engine
from bus.tlog.settings import LogSettings
from bus.verification import PackageReader, make_reader

__all__ = ["Progress", "Replay", "Tally", "run_replay"]

Progress = Callable[[int, int], None]


async def run_replay(
    settings: Settings,
    window: ReplayWindow | None = None,
    *,
    out: Path | None = None,
    progress: Progress | None = None,
    reader: PackageReader | None = None,
    log_settings: LogSettings | None = None,
) -> ReplayReport:
    """Read, re-verify, compare (and export): the auditor's replay, one batch at a time.

    Packages are read through ``reader`` (``make_reader(settings)`` by default: the
    router's read path). When the system keeps a transparency log (``log_settings``,
    else ``EDX_LOG_DB_URL`` or ``$EDX_HOME/log.db``), every decision the tracker
    records must have its leaf, and the log must pass :func:`bus.tlog.audit_log`
    (leaves, signed checkpoints and the Kafka records they name); its findings are
    divergences of kind ``log``.

    Each batch of records read from ``edx.submit`` is verified, compared with the
    tracker and dropped, so memory does not grow with the log; what is kept is a few
    bytes a record (the offsets read, the document ids counted) and, with ``out``, the
    trail steps to export (without the package bytes).
    """
    window = window or ReplayWindow()
    started_at = time.monotonic()
    engine = create_store_engine(settings.resolved_db_url, must_exist=True)
    log_engine = open_log(settings, log_settings)
    leaves = None if log_engine is None else LogLeaves(log_engine, log_anchors(settings))
    replay = Replay(
        window,
        reader=reader or make_reader(settings),
        comparison=TrackerComparison(
            engine, window, submit_topic=settings.topics.submit, log=leaves
        ),
        dating=leaves,
        tally=Tally(),
        kept=None if out is None else KeptSteps(),
    )
    try:
        await read_submit_log(settings, window, replay.batches(progress), keep=False)
        divergences = await asyncio.to_thread(replay.comparison.finish)
    finally:
        engine.dispose()
        if log_engine is not None:
            log_engine.dispose()
    log_check = None if log_engine is None else await check_log(settings, log_settings)
    if log_check is not None:
        divergences = [*divergences, *log_check.divergences]
    if out is not None and replay.kept is not None:
        await asyncio.to_thread(write_trail_file, out, replay.kept.trails(), window)
    return replay.tally.report(
        window,
        divergences,
        refusals=replay.comparison.refusals,
        log_check=log_check,
        seconds=time.monotonic() - started_at,
    )


class Replay:
    """One replay's steps over batches of ``edx.submit`` records.

    Owns its collaborators, each passed in and each keeping its own state: the read
    path (``reader``), the tracker comparison, the log's dating of records (none
    without a transparency log), the running counts and the steps kept for export
    (none without an export).
    """

    def __init__(
        self,
        window: ReplayWindow,
        *,
        reader: PackageReader,
        comparison: TrackerComparison,
        dating: LogLeaves | None,
        tally: Tally,
        kept: KeptSteps | None,
    ) -> None:
        self.window = window
        self.reader = reader
        self.comparison = comparison
        self.dating = dating
        self.tally = tally
        self.kept = kept

    def handle(self, records: list[LogRecord]) -> list[AuditedPackage]:
        """Date, verify, choose, compare, count and keep one batch; the packages chosen."""
        if self.dating is not None:
            records = self.dating.trusted_times(records)
        audited = [audit_record(record, self.reader) for record in records]
        chosen = [package for package in audited if package.involves(self.window.agency)]
        for record in records:
            self.comparison.note_read(record.partition, record.offset)
        self.comparison.check(chosen)
        self.tally.count(len(records), chosen)
        if self.kept is not None:
            self.kept.keep(chosen)
        return chosen

    def batches(
        self, progress: Progress | None = None
    ) -> Callable[[list[LogRecord], int, int], Awaitable[None]]:
        """The reader's ``on_batch``: each batch handled in a worker thread, then progress."""

        async def on_batch(records: list[LogRecord], done: int, total: int) -> None:
            if records:
                await asyncio.to_thread(self.handle, records)
            if progress is not None:
                progress(done, total)

        return on_batch


class Tally:
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
            if package.on_trail and package.document_id:
                self.documents.add(package.document_id)
                self.steps += 1

    def report(
        self,
        window: ReplayWindow,
        divergences: list[Divergence],
        *,
        refusals: dict[str, int],
        log_check: LogCheck | None,
        seconds: float,
    ) -> ReplayReport:
        """The report of what was counted, found and checked."""
        return ReplayReport(
            window=window,
            records_read=self.records,
            packages=self.packages,
            verified=self.verified,
            unverified=self.packages - self.verified,
            documents=len(self.documents),
            trail_steps=self.steps,
            divergences=tuple(divergences),
            seconds=seconds,
            unverified_reasons=dict(self.reasons),
            producer_timed=self.producer_timed,
            refusals=dict(refusals),
            log_leaves=None if log_check is None or log_check.note else log_check.leaves,
            log_checkpoint=None if log_check is None else log_check.latest_checkpoint,
            log_note="no transparency log found" if log_check is None else log_check.note,
        )
