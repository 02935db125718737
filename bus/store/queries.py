"""The clerk's and the auditor's questions, answered from the tracker's tables.

- :func:`document_status`: who has this document, what each recipient did and when.
- :func:`track`: documents with per-level counts of recipients delivered, arrived,
  accepted, completed, refused and overdue, cut by sender, recipient, subtree, level,
  current status, lateness and date.
- :func:`document_trail`: a document's whole ordered history with its hash chain
  checked.

A recipient is *overdue* when the document's due date has passed (from the day
after ``DueDate`` on the Vietnamese calendar: EDXML's dates are dates in Vietnam,
UTC+7, so a document due on the 29th is late from midnight in Hà Nội, not seven
hours later) and the recipient has neither completed (06) nor refused (02) it,
and the sender has not taken it back (13). Refusals are counted on their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    case,
    func,
    inspect,
    select,
)

from bus.errors import DatabaseNotReadyError, UnknownDocumentError
from bus.sql import database_errors
from bus.store.chain import ChainCheck, verify_chain
from bus.store.engine import TRACKER_DATABASE
from bus.store.placement import place
from bus.store.schema import STEP_COLUMNS, deliveries, documents, history, quarantine
from edxml import VIETNAM_TIME, StatusCode
from edxml.errors import InvalidAgencyCodeError, InvalidCodeListError

__all__ = [
    "STATUS_WORDS",
    "DocumentStatus",
    "LevelCounts",
    "QuarantinedRecord",
    "RecipientStatus",
    "TrackFilter",
    "TrackedDocument",
    "Trail",
    "TrailEntry",
    "document_status",
    "document_trail",
    "quarantined_records",
    "status_words",
    "track",
]

#: Status codes (DOMAIN.md §3) in words, plus the two states before any status.
#: Keys are the codes as stored (``StatusCode`` values), so a row's text looks its words up.
STATUS_WORDS: dict[str, str] = {
    "listed": "listed, not yet delivered",
    "delivered": "delivered, no status yet",
    StatusCode.ARRIVED.value: "arrived",
    StatusCode.REFUSED.value: "refused",
    StatusCode.ACCEPTED.value: "accepted",
    StatusCode.ASSIGNED.value: "assigned",
    StatusCode.PROCESSING.value: "processing",
    StatusCode.COMPLETED.value: "completed",
    StatusCode.TAKE_BACK.value: "take-back requested",
    StatusCode.CHANGE_AGREED.value: "change agreed",
    StatusCode.CHANGE_REFUSED.value: "change refused",
}
_WORD_TO_CODE = {words.split(",")[0]: code for code, words in STATUS_WORDS.items()}


def status_words(code: str) -> str:
    """A status code (or ``listed``/``delivered``) in words."""
    return STATUS_WORDS.get(code, f"status {code}")


def _today() -> date:
    """Today on the calendar due dates are written in (Vietnam's)."""
    return datetime.now(VIETNAM_TIME).date()


# --- edx status --------------------------------------------------------------


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient of a document: its place in the tree, current status, step times."""

    recipient: str
    name: str | None
    level: int | None
    status: str
    status_words: str
    status_at: datetime | None
    description: str | None
    listed_at: datetime | None
    delivered_at: datetime | None
    steps: dict[str, datetime]
    overdue: bool


@dataclass(frozen=True)
class DocumentStatus:
    """A document and every recipient, with totals per current status."""

    document_id: str
    sender: str
    sender_name: str | None
    subject: str | None
    code_number: str | None
    code_notation: str | None
    due_date: date | None
    submitted_at: datetime | None
    rejected_reason: str | None
    taken_back_at: datetime | None
    recipients: tuple[RecipientStatus, ...]
    totals: dict[str, int]


def _is_overdue(row: Any, due: date | None, taken_back: datetime | None, today: date) -> bool:
    return (
        due is not None
        and due < today
        and row["completed_at"] is None
        and row["refused_at"] is None
        and taken_back is None
    )


def _current(row: Any) -> str:
    if row["status_code"]:
        return str(row["status_code"])
    return "delivered" if row["delivered_at"] is not None else "listed"


def document_status(
    engine: Engine, document_id: str, *, today: date | None = None
) -> DocumentStatus:
    """Every recipient of ``document_id`` (sorted by level, then code) and the totals."""
    today = today or _today()
    with database_errors(TRACKER_DATABASE), engine.connect() as connection:
        _require_schema(engine, connection)
        doc = (
            connection.execute(select(documents).where(documents.c.document_id == document_id))
            .mappings()
            .first()
        )
        if doc is None:
            raise UnknownDocumentError(document_id)
        rows = (
            connection.execute(
                select(deliveries)
                .where(deliveries.c.document_id == document_id)
                .order_by(deliveries.c.recipient_level.nulls_last(), deliveries.c.recipient)
            )
            .mappings()
            .all()
        )
    recipients = tuple(
        RecipientStatus(
            recipient=row["recipient"],
            name=row["recipient_name"],
            level=row["recipient_level"],
            status=_current(row),
            status_words=status_words(_current(row)),
            status_at=row["status_at"],
            description=row["status_description"],
            listed_at=row["listed_at"],
            delivered_at=row["delivered_at"],
            steps={
                str(code): row[column]
                for code, column in STEP_COLUMNS.items()
                if row[column] is not None
            },
            overdue=_is_overdue(row, doc["due_date"], doc["taken_back_at"], today),
        )
        for row in rows
    )
    totals = Counter(r.status for r in recipients)
    totals_out = {code: totals[code] for code in STATUS_WORDS if totals[code]}
    totals_out["overdue"] = sum(r.overdue for r in recipients)
    return DocumentStatus(
        document_id=doc["document_id"],
        sender=doc["sender"],
        sender_name=doc["sender_name"],
        subject=doc["subject"],
        code_number=doc["code_number"],
        code_notation=doc["code_notation"],
        due_date=doc["due_date"],
        submitted_at=doc["submitted_at"],
        rejected_reason=doc["reason_code"],
        taken_back_at=doc["taken_back_at"],
        recipients=recipients,
        totals=totals_out,
    )


# --- edx track ---------------------------------------------------------------


@dataclass(frozen=True)
class TrackFilter:
    """The cuts of ``edx track``. Recipient cuts select which recipients are counted;
    a document is listed when at least one of its recipients is selected."""

    sender: str | None = None
    recipient: str | None = None
    under: str | None = None
    level: int | None = None
    status: str | None = None
    overdue: bool = False
    since: date | None = None
    limit: int = 200


@dataclass(frozen=True)
class LevelCounts:
    """Recipients of one level (``None``: codes outside the standard pattern)."""

    level: int | None
    recipients: int = 0
    delivered: int = 0
    arrived: int = 0
    accepted: int = 0
    completed: int = 0
    refused: int = 0
    overdue: int = 0


#: The counters of :class:`LevelCounts`, as the query labels them.
_LEVEL_COUNTS = tuple(f.name for f in fields(LevelCounts) if f.name != "level")


@dataclass(frozen=True)
class TrackedDocument:
    """A document with its recipients counted per level and in total."""

    document_id: str
    sender: str
    subject: str | None
    due_date: date | None
    submitted_at: datetime | None
    levels: tuple[LevelCounts, ...]
    total: LevelCounts = field(default_factory=lambda: LevelCounts(None))


def subtree_condition(code: str) -> ColumnElement[bool]:
    """SQL condition: the recipient is ``code`` or below it in the four-level tree."""
    placement = place(code)
    if placement is None:
        raise InvalidAgencyCodeError(
            code, "--under", "is not a four-group agency code (G1.G2.G3.G4)"
        )
    conditions = [deliveries.c.recipient_unit == placement.unit]
    if placement.level >= 2:
        conditions.append(deliveries.c.recipient_g3 == placement.g3)
    if placement.level >= 3:
        conditions.append(deliveries.c.recipient_g2 == placement.g2)
    if placement.level >= 4:
        conditions.append(deliveries.c.recipient_g1 == placement.g1)
    return and_(*conditions)


def _overdue_condition(today: date) -> ColumnElement[bool]:
    return and_(
        documents.c.due_date.is_not(None),
        documents.c.due_date < today,
        deliveries.c.completed_at.is_(None),
        deliveries.c.refused_at.is_(None),
        documents.c.taken_back_at.is_(None),
    )


def _status_condition(status: str) -> ColumnElement[bool]:
    code = _WORD_TO_CODE.get(status.lower(), status)
    if code not in STATUS_WORDS:
        raise InvalidCodeListError(
            "--status", status, f"is not a status (one of {', '.join(STATUS_WORDS)})"
        )
    if code == "listed":
        return and_(deliveries.c.status_code.is_(None), deliveries.c.delivered_at.is_(None))
    if code == "delivered":
        return and_(deliveries.c.status_code.is_(None), deliveries.c.delivered_at.is_not(None))
    return deliveries.c.status_code == code


def _recipient_conditions(cut: TrackFilter, today: date) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if cut.sender:
        conditions.append(documents.c.sender == cut.sender)
    if cut.recipient:
        conditions.append(deliveries.c.recipient == cut.recipient)
    if cut.under:
        conditions.append(subtree_condition(cut.under))
    if cut.level is not None:
        conditions.append(deliveries.c.recipient_level == cut.level)
    if cut.status:
        conditions.append(_status_condition(cut.status))
    if cut.overdue:
        conditions.append(_overdue_condition(today))
    if cut.since is not None:
        conditions.append(documents.c.submitted_at >= datetime.combine(cut.since, time(), UTC))
    return conditions


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def track(
    engine: Engine, cut: TrackFilter | None = None, *, today: date | None = None
) -> list[TrackedDocument]:
    """Documents matching ``cut``, newest first, with per-level recipient counts."""
    cut = cut or TrackFilter()
    today = today or _today()
    conditions = _recipient_conditions(cut, today)
    joined = deliveries.join(documents, documents.c.document_id == deliveries.c.document_id)
    chosen = (
        select(documents.c.document_id)
        .select_from(joined)
        .where(*conditions)
        .group_by(documents.c.document_id, documents.c.submitted_at)
        .order_by(documents.c.submitted_at.desc().nulls_last(), documents.c.document_id)
        .limit(cut.limit)
    )
    counts = (
        select(
            deliveries.c.document_id,
            deliveries.c.recipient_level,
            func.count().label("recipients"),
            _count(deliveries.c.delivered_at.is_not(None)).label("delivered"),
            _count(deliveries.c.arrived_at.is_not(None)).label("arrived"),
            _count(deliveries.c.accepted_at.is_not(None)).label("accepted"),
            _count(deliveries.c.completed_at.is_not(None)).label("completed"),
            _count(deliveries.c.refused_at.is_not(None)).label("refused"),
            _count(_overdue_condition(today)).label("overdue"),
        )
        .select_from(joined)
        .where(*conditions)
        .group_by(deliveries.c.document_id, deliveries.c.recipient_level)
    )
    with database_errors(TRACKER_DATABASE), engine.connect() as connection:
        _require_schema(engine, connection)
        ids = list(connection.scalars(chosen))
        if not ids:
            return []
        counts = counts.where(deliveries.c.document_id.in_(ids))
        docs = {
            row["document_id"]: row
            for row in connection.execute(
                select(documents).where(documents.c.document_id.in_(ids))
            ).mappings()
        }
        per_level: dict[str, list[LevelCounts]] = {}
        for row in connection.execute(counts).mappings():
            per_level.setdefault(row["document_id"], []).append(
                LevelCounts(
                    level=row["recipient_level"],
                    **{name: int(row[name] or 0) for name in _LEVEL_COUNTS},
                )
            )
    result = []
    for document_id in ids:
        doc = docs[document_id]
        levels = tuple(
            sorted(per_level.get(document_id, []), key=lambda c: (c.level is None, c.level or 0))
        )
        result.append(
            TrackedDocument(
                document_id=document_id,
                sender=doc["sender"],
                subject=doc["subject"],
                due_date=doc["due_date"],
                submitted_at=doc["submitted_at"],
                levels=levels,
                total=_sum_levels(levels),
            )
        )
    return result


def _sum_levels(levels: Sequence[LevelCounts]) -> LevelCounts:
    names = ("recipients", "delivered", "arrived", "accepted", "completed", "refused", "overdue")
    return LevelCounts(None, **{n: sum(getattr(c, n) for c in levels) for n in names})


# --- edx trail ---------------------------------------------------------------


@dataclass(frozen=True)
class TrailEntry:
    """One step of a document's history, as stored, with its chain hashes."""

    sequence: int
    event_id: str
    kind: str
    occurred_at: datetime
    actor: str
    recipient: str | None
    package_kind: str
    status_code: str | None
    description: str | None
    reason_code: str | None
    content_digest: str
    source_topic: str
    source_partition: int
    source_offset: int
    events_topic: str
    events_partition: int
    events_offset: int
    prev_hash: str
    row_hash: str


@dataclass(frozen=True)
class Trail:
    """A document's ordered history and the verdict on its hash chain."""

    document_id: str
    entries: tuple[TrailEntry, ...]
    check: ChainCheck


TRAIL_FIELDS = tuple(TrailEntry.__dataclass_fields__)


def document_trail(engine: Engine, document_id: str) -> Trail:
    """The history of ``document_id`` in order, with the hash chain verified."""
    with database_errors(TRACKER_DATABASE), engine.connect() as connection:
        _require_schema(engine, connection)
        rows = (
            connection.execute(
                select(history)
                .where(history.c.document_id == document_id)
                .order_by(history.c.sequence)
            )
            .mappings()
            .all()
        )
    if not rows:
        raise UnknownDocumentError(document_id)
    check = verify_chain(document_id, [{**row} for row in rows])
    entries = tuple(TrailEntry(**{name: row[name] for name in TRAIL_FIELDS}) for row in rows)
    return Trail(document_id, entries, check)


def _require_schema(engine: Engine, connection: Any) -> None:
    if not inspect(connection).has_table("history"):
        raise DatabaseNotReadyError(
            f"database {engine.url.render_as_string(hide_password=True)} holds no tracker "
            "tables (start the tracker once, or run the migrations)"
        )


# --- quarantine ----------------------------------------------------------------------


@dataclass(frozen=True)
class QuarantinedRecord:
    """An ``edx.events`` record the tracker set aside, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    reason_code: str
    error: str
    quarantined_at: datetime
    key: bytes | None
    value: bytes | None


def quarantined_records(engine: Engine, *, limit: int = 1000) -> list[QuarantinedRecord]:
    """The quarantined records, oldest first, for an operator to inspect or replay."""
    with database_errors(TRACKER_DATABASE), engine.connect() as connection:
        _require_schema(engine, connection)
        rows = (
            connection.execute(
                select(quarantine)
                .order_by(quarantine.c.topic, quarantine.c.partition, quarantine.c.offset)
                .limit(limit)
            )
            .mappings()
            .all()
        )
    return [
        QuarantinedRecord(
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            reason_code=row["reason_code"],
            error=row["error"],
            quarantined_at=row["quarantined_at"],
            key=row["record_key"],
            value=row["record_value"],
        )
        for row in rows
    ]
