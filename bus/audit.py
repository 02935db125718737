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
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from sqlalchemy import Engine, select

from bus.errors import BrokerUnavailableError, TrailFileError, UnknownDocumentError
from bus.kafka import make_consumer, started, translate_errors
from bus.records import content_digest
from bus.settings import Settings
from bus.store import create_store_engine
from bus.store import translate_errors as translate_db_errors
from bus.store.chain import GENESIS, row_hash, verify_chain
from bus.store.queries import Trail, TrailEntry
from bus.store.schema import STEP_COLUMNS, deliveries, documents, history
from edxml import DocumentPackage, EdxbusError, Mode, StatusPackage, parse
from signing import TrustStore, VerificationPolicy, Verifier

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

#: How far producer clocks may lag: reading starts this much before ``since``.
CLOCK_SKEW = timedelta(hours=1)
#: Fields of an exported trail step covered by its hash (``row_hash`` excluded).
AUDIT_HASHED_FIELDS: tuple[str, ...] = (
    "document_id", "sequence", "kind", "occurred_at", "actor", "recipients", "status_code",
    "description", "content_digest", "source_topic", "source_partition", "source_offset",
    "verified", "reason_code", "signer_agency", "signer_fingerprint", "prev_hash",
)
_TRAIL_SCHEMA_NAME = "vn.edxbus.audit.AuditTrailStep"
_STALL_SECONDS = 30.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReplayWindow:
    """Which packages a replay covers: record time in [since, until], and one agency."""

    since: datetime | None = None
    until: datetime | None = None
    agency: str | None = None

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("replay window bounds must be UTC-aware")

    def contains(self, at: datetime) -> bool:
        """Whether a record written at ``at`` falls in the window."""
        return (self.since is None or at >= self.since) and (
            self.until is None or at <= self.until)


@dataclass(frozen=True)
class LogRecord:
    """One ``edx.submit`` record: coordinates, timestamp, key and the package bytes."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None

    @property
    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class AuditedPackage:
    """A log record re-verified and read: what was signed, by whom, about what."""

    record: LogRecord
    content_digest: str
    verified: bool
    kind: str  # SUBMITTED, STATUS or UNREADABLE
    document_id: str | None = None
    actor: str | None = None
    recipients: tuple[str, ...] = ()
    status_code: str | None = None
    description: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    signer_agency: str | None = None
    signer_fingerprint: str | None = None

    def involves(self, agency: str | None) -> bool:
        """Whether ``agency`` sent this package or is among its recipients."""
        return agency is None or agency == self.actor or agency in self.recipients


@dataclass(frozen=True)
class AuditStep:
    """One step of a rebuilt trail, hash-chained (the Avro export's record)."""

    document_id: str
    sequence: int
    kind: str
    occurred_at: datetime
    actor: str
    recipients: tuple[str, ...]
    status_code: str | None
    description: str | None
    content_digest: str
    source_topic: str
    source_partition: int
    source_offset: int
    verified: bool
    reason_code: str | None
    signer_agency: str | None
    signer_fingerprint: str | None
    prev_hash: str
    row_hash: str

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["recipients"] = list(self.recipients)
        return row


class DivergenceKind(StrEnum):
    """How the tracker and the log disagree."""

    MISSING = "missing"
    EXTRA = "extra"
    ALTERED = "altered"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Divergence:
    """One disagreement between the log and the tracker."""

    kind: DivergenceKind
    document_id: str
    what: str
    recipient: str | None = None
    coordinates: str | None = None


@dataclass(frozen=True)
class ReplayReport:
    """What a replay read, verified and found."""

    window: ReplayWindow
    records_read: int
    packages: int
    verified: int
    unverified: int
    documents: int
    trail_steps: int
    divergences: tuple[Divergence, ...]
    seconds: float
    unverified_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """No divergence and every package verified."""
        return not self.divergences and self.unverified == 0

    def summary(self) -> str:
        counts: dict[str, int] = defaultdict(int)
        for divergence in self.divergences:
            counts[divergence.kind.value] += 1
        found = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no divergence"
        verdict = "CLEAN" if self.clean else "DIVERGES"
        reasons = "".join(f", {n} {r}" for r, n in sorted(self.unverified_reasons.items()))
        return (
            f"{verdict}: {self.packages} package(s) in the window ({self.verified} verified, "
            f"{self.unverified} not{reasons}), {self.documents} document(s), "
            f"{self.trail_steps} trail step(s); {found} [{self.seconds:.1f}s]"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clean"] = self.clean
        return data


# --- reading the log -------------------------------------------------------------------


def _record_time(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


async def _timestamp_at(consumer: AIOKafkaConsumer, tp: TopicPartition,
                        offset: int) -> datetime | None:
    consumer.seek(tp, offset)
    deadline = time.monotonic() + _STALL_SECONDS
    while time.monotonic() < deadline:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
        for messages in batch.values():
            if messages:
                return _record_time(messages[0].timestamp)
        if await consumer.position(tp) > offset:
            return None  # nothing readable at or after this offset (a gap at the end)
    raise BrokerUnavailableError(f"no answer reading {tp.topic}/{tp.partition} at {offset}")


async def _first_offset_at(consumer: AIOKafkaConsumer, tp: TopicPartition, low: int,
                           high: int, at: datetime) -> int:
    """The first offset in [low, high) whose record is not older than ``at`` (binary search)."""
    while low < high:
        middle = (low + high) // 2
        stamp = await _timestamp_at(consumer, tp, middle)
        if stamp is not None and stamp < at:
            low = middle + 1
        else:
            high = middle
    return low


async def read_submit_log(
    settings: Settings,
    window: ReplayWindow,
    on_batch: Callable[[list[LogRecord], int, int], Any] | None = None,
) -> list[LogRecord]:
    """Every ``edx.submit`` record in ``window`` (agency filtering happens after reading).

    ``on_batch(records, done, total)`` is awaited after each fetched batch when it
    returns an awaitable; ``done``/``total`` count offsets, for a progress bar.
    """
    topic = settings.topics.submit
    consumer = make_consumer(settings, group_id=None, enable_auto_commit=False)
    selected: list[LogRecord] = []
    async with started(consumer, "reading edx.submit for the replay"):
        with translate_errors("reading edx.submit for the replay"):
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer.topics()
                partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                return []
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            starts = dict(begins)
            if window.since is not None:
                for tp in tps:
                    starts[tp] = await _first_offset_at(
                        consumer, tp, begins[tp], ends[tp], window.since - CLOCK_SKEW)
            total = sum(ends[tp] - starts[tp] for tp in tps)
            done = 0
            for tp in tps:
                consumer.seek(tp, starts[tp])
            remaining = {tp for tp in tps if starts[tp] < ends[tp]}
            last_progress = time.monotonic()
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                fresh: list[LogRecord] = []
                for tp, messages in batch.items():
                    for message in messages:
                        if message.offset >= ends[tp]:
                            continue
                        stamp = _record_time(message.timestamp)
                        if window.contains(stamp):
                            fresh.append(LogRecord(tp.topic, tp.partition, message.offset,
                                                   stamp, message.key, message.value))
                before = done
                positions = {tp: await consumer.position(tp) for tp in tps}
                done = max(before, sum(min(positions[tp], ends[tp]) - starts[tp] for tp in tps))
                remaining = {tp for tp in remaining if positions[tp] < ends[tp]}
                if fresh or done > before:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > _STALL_SECONDS:
                    raise BrokerUnavailableError(f"reading {topic} stalled at {done}/{total}")
                selected.extend(fresh)
                if on_batch is not None:
                    outcome = on_batch(fresh, min(done, total), total)
                    if asyncio.iscoroutine(outcome):
                        await outcome
    return selected


# --- verifying -------------------------------------------------------------------------


def verifier_from_settings(settings: Settings) -> Verifier:
    """A verifier over the trust anchors (and CRL) the settings name."""
    crl = settings.resolved_crl
    trust = TrustStore.from_directory(settings.resolved_trust, [crl] if crl else [])
    return Verifier(trust, VerificationPolicy())


def _read(package: DocumentPackage | StatusPackage) -> dict[str, Any]:
    if isinstance(package, StatusPackage):
        return {
            "kind": "STATUS",
            "document_id": package.response_for.document_id,
            "actor": package.sender_code,
            "status_code": str(package.status_code.value),
            "description": package.description or None,
            "recipients": (package.response_for.organ_id,) if package.response_for.organ_id
            else (),
        }
    return {
        "kind": "SUBMITTED",
        "document_id": package.document_id,
        "actor": package.sender_code,
        "recipients": package.recipient_codes,
    }


def audit_record(record: LogRecord, verifier: Verifier, *,
                 agency_pattern: str | None = None) -> AuditedPackage:
    """Re-verify one record at the time it was written and read what it says.

    Fields of a package whose signature fails are read too (so the report can name the
    document) but the package is marked ``verified=False`` and nothing trusts them.
    """
    value = record.value or b""
    digest = content_digest(value)
    if not value:
        return AuditedPackage(record, digest, False, "UNREADABLE", reason_code="empty-record",
                              reason="the record has no value")
    try:
        verified = verifier.verify(value, at=record.timestamp)
        parsed = parse(verified.signed_bytes, mode=Mode.TOLERANT, agency_pattern=agency_pattern)
    except EdxbusError as error:
        try:
            fields = _read(parse(value, mode=Mode.TOLERANT,
                                 agency_pattern=agency_pattern).package)
        except EdxbusError:
            fields = {"kind": "UNREADABLE"}
        return AuditedPackage(record, digest, False, reason_code=error.reason_code,
                              reason=str(error), **fields)
    return AuditedPackage(record, digest, True, signer_agency=verified.agency_code,
                          signer_fingerprint=verified.fingerprint, **_read(parsed.package))


# --- rebuilding trails -----------------------------------------------------------------


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


# --- comparing with the tracker --------------------------------------------------------


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


# --- export and import -----------------------------------------------------------------


def _trail_schema() -> dict[str, Any]:
    text = resources.files("bus").joinpath("schemas/audit_trail.v1.avsc").read_text("utf-8")
    parsed = fastavro.parse_schema(json.loads(text))
    if not isinstance(parsed, dict):
        raise TrailFileError("audit_trail.v1.avsc is not a record schema")
    return parsed


def write_trail_file(path: Path, trails: dict[str, list[AuditStep]],
                     window: ReplayWindow) -> int:
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
            name = reader.writer_schema.get("name") if isinstance(reader.writer_schema,
                                                                    dict) else None
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
                sequence=s["sequence"], event_id="", kind=s["kind"],
                occurred_at=s["occurred_at"], actor=s["actor"],
                recipient=", ".join(s["recipients"]) or None,
                package_kind="STATUS" if s["kind"] == "STATUS" else "DOCUMENT",
                status_code=s["status_code"], description=s["description"],
                reason_code=s["reason_code"] if not s["verified"] else None,
                content_digest=s["content_digest"], source_topic=s["source_topic"],
                source_partition=s["source_partition"], source_offset=s["source_offset"],
                events_topic="", events_partition=-1, events_offset=-1,
                prev_hash=s["prev_hash"], row_hash=s["row_hash"],
            )
            for s in chain
        )
        trails.append(Trail(doc_id, entries, check))
    return trails


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
