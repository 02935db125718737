"""Idempotent, batched ingest of ``edx.events`` records into the tracker's tables.

One call of :func:`ingest` takes a batch of records as the consumer fetched them and,
in ONE transaction, writes the history rows (hash-chained), the documents and
deliveries they change, the records that do not decode (quarantine), and the
consumer's next offset for every partition in the batch. A crash anywhere before the
commit leaves nothing; after it, everything including the position. On restart the
tracker resumes from the stored positions, so no record is counted twice, and
``event_id`` is unique in the history, so a record seen again by any other path
(a rebalance, an operator resetting offsets) changes nothing either.

Records of one document share one partition (the key is the document id), so one
tracker instance owns a document's chain at any time; instances never write the same
document concurrently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update

from bus.errors import EventDecodeError
from bus.lifecycle import EventKind, LifecycleEvent, PackageKind, decode_event
from bus.sql import database_errors
from bus.store.chain import GENESIS, row_hash
from bus.store.engine import TRACKER_DATABASE
from bus.store.placement import place
from bus.store.schema import (
    STEP_COLUMNS,
    consumer_positions,
    deliveries,
    documents,
    history,
    quarantine,
)
from edxml import StatusCode
from edxml.errors import EdxbusError

__all__ = [
    "IncomingRecord",
    "IngestResult",
    "NameLookup",
    "ingest",
    "quarantine_records",
    "stored_positions",
]

#: Finds an agency's name (from the agency directory); ``None`` when unknown.
NameLookup = Callable[[str], str | None]

_CHUNK = 500  # bound on IN (...) lists: SQLite allows 32766 parameters, keep far below


@dataclass(frozen=True)
class IncomingRecord:
    """One ``edx.events`` record as fetched: its coordinates, key and value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class IngestResult:
    """What one batch did: rows recorded, duplicates ignored, records quarantined."""

    recorded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    positions: Mapping[tuple[str, int], int] = field(default_factory=dict)
    by_kind: Mapping[str, int] = field(default_factory=dict)


def stored_positions(engine: Engine, group: str, topic: str) -> dict[int, int]:
    """The next offset to read per partition of ``topic``, as stored by ``group``."""
    query = select(consumer_positions.c.partition, consumer_positions.c.next_offset).where(
        consumer_positions.c.consumer_group == group, consumer_positions.c.topic == topic
    )
    with database_errors(TRACKER_DATABASE), engine.connect() as connection:
        return {int(p): int(o) for p, o in connection.execute(query)}


def ingest(
    engine: Engine,
    records: Sequence[IncomingRecord],
    *,
    group: str,
    names: NameLookup | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestResult:
    """Record a batch in one transaction (see the module docstring). Idempotent."""
    if not records:
        return IngestResult()
    with database_errors(TRACKER_DATABASE), engine.begin() as connection:
        return _Batch(connection, group, names or (lambda _code: None), now()).run(records)


def quarantine_records(
    engine: Engine,
    records: Sequence[IncomingRecord],
    error: EdxbusError,
    *,
    group: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestResult:
    """Set records aside that decode but cannot be stored (the database refuses them).

    They go to the quarantine table with ``error``'s reason, and the position moves
    past them in the same transaction, so one poisoned record never stalls the tracker.
    """
    if not records:
        return IngestResult()
    with database_errors(TRACKER_DATABASE), engine.begin() as connection:
        batch = _Batch(connection, group, lambda _code: None, now())
        positions = batch._positions({(r.topic, r.partition) for r in records})
        batch._quarantine([(record, error) for record in records])
        advanced = batch._advance(records, positions)
    return IngestResult(quarantined=len(records), positions=advanced)


class _Batch:
    """The state of one ingest transaction: rows loaded, changed and created."""

    def __init__(
        self, connection: Connection, group: str, names: NameLookup, now: datetime
    ) -> None:
        self.connection = connection
        self.group = group
        self.names = names
        self.now = now
        self.documents: dict[str, dict[str, Any]] = {}
        self.new_documents: set[str] = set()
        self.dirty_documents: set[str] = set()
        self.deliveries: dict[tuple[str, str], dict[str, Any]] = {}
        self.new_deliveries: set[tuple[str, str]] = set()
        self.dirty_deliveries: set[tuple[str, str]] = set()
        self.chain_heads: dict[str, tuple[int, str]] = {}

    # --- the transaction --------------------------------------------------------

    def run(self, records: Sequence[IncomingRecord]) -> IngestResult:
        positions = self._positions({(r.topic, r.partition) for r in records})
        fresh = [r for r in records if r.offset >= positions.get((r.topic, r.partition), 0)]
        decoded: list[tuple[IncomingRecord, LifecycleEvent]] = []
        bad: list[tuple[IncomingRecord, EdxbusError]] = []
        for record in fresh:
            try:
                decoded.append((record, _decode(record)))
            except EventDecodeError as error:
                bad.append((record, error))
        known = self._known_event_ids([event.event_id for _, event in decoded])
        new: list[tuple[IncomingRecord, LifecycleEvent]] = []
        for record, event in decoded:
            if event.event_id not in known:
                known.add(event.event_id)
                new.append((record, event))
        document_ids = {event.document_id for _, event in new}
        self._load(document_ids)
        history_rows = [self._apply(record, event) for record, event in new]
        self._write(history_rows, bad)
        advanced = self._advance(records, positions)
        return IngestResult(
            recorded=len(history_rows),
            duplicates=len(decoded) - len(new) + (len(records) - len(fresh)),
            quarantined=len(bad),
            positions=advanced,
            by_kind=dict(Counter(event.kind.value for _, event in new)),
        )

    def _positions(self, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        topics = {topic for topic, _ in partitions}
        rows = self.connection.execute(
            select(
                consumer_positions.c.topic,
                consumer_positions.c.partition,
                consumer_positions.c.next_offset,
            ).where(
                consumer_positions.c.consumer_group == self.group,
                consumer_positions.c.topic.in_(topics),
            )
        )
        return {(t, int(p)): int(o) for t, p, o in rows}

    def _known_event_ids(self, event_ids: list[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(event_ids):
            known.update(
                self.connection.scalars(
                    select(history.c.event_id).where(history.c.event_id.in_(chunk))
                )
            )
        return known

    def _load(self, document_ids: set[str]) -> None:
        for chunk in _chunks(sorted(document_ids)):
            for row in self.connection.execute(
                select(documents).where(documents.c.document_id.in_(chunk))
            ).mappings():
                self.documents[row["document_id"]] = dict(row)
            for row in self.connection.execute(
                select(deliveries).where(deliveries.c.document_id.in_(chunk))
            ).mappings():
                self.deliveries[(row["document_id"], row["recipient"])] = dict(row)
            heads = (
                select(history.c.document_id, func.max(history.c.sequence).label("sequence"))
                .where(history.c.document_id.in_(chunk))
                .group_by(history.c.document_id)
                .subquery()
            )
            for document_id, sequence, hash_ in self.connection.execute(
                select(history.c.document_id, history.c.sequence, history.c.row_hash).join(
                    heads,
                    and_(
                        heads.c.document_id == history.c.document_id,
                        heads.c.sequence == history.c.sequence,
                    ),
                )
            ):
                self.chain_heads[document_id] = (int(sequence), str(hash_))

    def _write(
        self, history_rows: list[dict[str, Any]], bad: Sequence[tuple[IncomingRecord, EdxbusError]]
    ) -> None:
        if history_rows:
            self.connection.execute(insert(history), history_rows)
        _insert_and_update(
            self.connection,
            documents,
            ("document_id",),
            self.documents,
            self.new_documents,
            self.dirty_documents,
        )
        _insert_and_update(
            self.connection,
            deliveries,
            ("document_id", "recipient"),
            self.deliveries,
            self.new_deliveries,
            self.dirty_deliveries,
        )
        if bad:
            self._quarantine(bad)

    def _quarantine(self, bad: Sequence[tuple[IncomingRecord, EdxbusError]]) -> None:
        rows = [
            {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "record_key": record.key,
                "record_value": record.value,
                "reason_code": error.reason_code,
                "error": str(error),
                "quarantined_at": self.now,
            }
            for record, error in bad
        ]
        # Bad records are rare: one existence check each keeps this simple and portable.
        fresh = [
            row
            for row in rows
            if self.connection.scalar(
                select(func.count())
                .select_from(quarantine)
                .where(
                    quarantine.c.topic == row["topic"],
                    quarantine.c.partition == row["partition"],
                    quarantine.c.offset == row["offset"],
                )
            )
            == 0
        ]
        if fresh:
            self.connection.execute(insert(quarantine), fresh)

    def _advance(
        self, records: Sequence[IncomingRecord], stored: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        ends: dict[tuple[str, int], int] = {}
        for record in records:
            key = (record.topic, record.partition)
            ends[key] = max(ends.get(key, 0), record.offset + 1)
        advanced = {k: v for k, v in ends.items() if v > stored.get(k, -1)}
        for (topic, partition), next_offset in advanced.items():
            values = {"next_offset": next_offset, "updated_at": self.now}
            if (topic, partition) in stored:
                self.connection.execute(
                    update(consumer_positions)
                    .where(
                        consumer_positions.c.consumer_group == self.group,
                        consumer_positions.c.topic == topic,
                        consumer_positions.c.partition == partition,
                    )
                    .values(**values)
                )
            else:
                self.connection.execute(
                    insert(consumer_positions).values(
                        consumer_group=self.group, topic=topic, partition=partition, **values
                    )
                )
        return advanced

    # --- applying one event -------------------------------------------------------

    def _apply(self, record: IncomingRecord, event: LifecycleEvent) -> dict[str, Any]:
        kind = event.kind
        if event.package_kind is PackageKind.DOCUMENT:
            if kind is EventKind.SUBMITTED:
                self._submitted(event)
            elif kind is EventKind.DELIVERED:
                self._delivered(event)
            elif kind is EventKind.REJECTED:
                self._rejected(event)
        elif kind is EventKind.STATUS:
            self._status(event)
        return self._history_row(record, event)

    def _history_row(self, record: IncomingRecord, event: LifecycleEvent) -> dict[str, Any]:
        document_id = event.document_id
        sequence, previous = self.chain_heads.get(document_id, (0, GENESIS))
        row: dict[str, Any] = {
            "document_id": document_id,
            "sequence": sequence + 1,
            "event_id": event.event_id,
            "kind": event.kind.value,
            "occurred_at": event.occurred_at,
            "actor": event.actor,
            "recipient": event.recipient,
            "package_kind": event.package_kind.value,
            "status_code": None if event.status_code is None else event.status_code.value,
            "description": event.description,
            "reason_code": event.reason_code,
            "content_digest": event.content_digest,
            "source_topic": event.source.topic,
            "source_partition": event.source.partition,
            "source_offset": event.source.offset,
            "events_topic": record.topic,
            "events_partition": record.partition,
            "events_offset": record.offset,
            "prev_hash": previous,
        }
        row["row_hash"] = row_hash(row)
        self.chain_heads[document_id] = (row["sequence"], row["row_hash"])
        return row

    def _document(self, document_id: str, sender: str, event: LifecycleEvent) -> dict[str, Any]:
        found = self.documents.get(document_id)
        if found is not None:
            self.dirty_documents.add(document_id)
            if found["sender_name"] is None:
                found["sender_name"] = self.names(found["sender"])
            return found
        placement = place(sender)
        row: dict[str, Any] = {column.name: None for column in documents.columns}
        row.update(
            document_id=document_id,
            sender=sender,
            sender_name=self.names(sender),
            sender_level=placement.level if placement else None,
            sender_unit=placement.unit if placement else None,
            package_kind=event.package_kind.value,
        )
        self.documents[document_id] = row
        self.new_documents.add(document_id)
        return row

    def _delivery(self, document_id: str, recipient: str, sender: str) -> dict[str, Any]:
        key = (document_id, recipient)
        found = self.deliveries.get(key)
        if found is not None:
            self.dirty_deliveries.add(key)
            if found["recipient_name"] is None:  # the directory may know it by now
                found["recipient_name"] = self.names(recipient)
            return found
        placement = place(recipient)
        row: dict[str, Any] = {column.name: None for column in deliveries.columns}
        row.update(
            document_id=document_id,
            recipient=recipient,
            recipient_name=self.names(recipient),
            sender=sender,
        )
        if placement is not None:
            row.update(
                recipient_level=placement.level,
                recipient_unit=placement.unit,
                recipient_g3=placement.g3,
                recipient_g2=placement.g2,
                recipient_g1=placement.g1,
                recipient_parent=placement.parent,
            )
        self.deliveries[key] = row
        self.new_deliveries.add(key)
        return row

    def _submitted(self, event: LifecycleEvent) -> None:
        sender = event.actor
        doc = self._document(event.document_id, sender, event)
        described = {
            "subject": event.subject,
            "code_number": event.code_number,
            "code_notation": event.code_notation,
            "due_date": event.due_date,
            "business_type": event.business_type,
            "target_document_id": event.target_document_id,
            "content_digest": event.content_digest,
            "source_topic": event.source.topic,
            "source_partition": event.source.partition,
            "source_offset": event.source.offset,
        }
        doc.update({name: value for name, value in described.items() if value is not None})
        doc["sender"] = sender
        doc["submitted_at"] = _earliest(doc["submitted_at"], event.occurred_at)
        for recipient in event.recipients:
            delivery = self._delivery(event.document_id, recipient, sender)
            delivery["listed_at"] = _earliest(delivery["listed_at"], event.occurred_at)

    def _delivered(self, event: LifecycleEvent) -> None:
        recipient = event.recipient
        sender = event.actor
        self._document(event.document_id, sender, event)
        if not recipient:
            return
        delivery = self._delivery(event.document_id, recipient, sender)
        delivery["delivered_at"] = _earliest(delivery["delivered_at"], event.occurred_at)
        delivery["listed_at"] = _earliest(delivery["listed_at"], event.occurred_at)
        delivery["source_topic"] = event.source.topic
        delivery["source_partition"] = event.source.partition
        delivery["source_offset"] = event.source.offset

    def _rejected(self, event: LifecycleEvent) -> None:
        doc = self._document(event.document_id, event.actor, event)
        doc["rejected_at"] = _earliest(doc["rejected_at"], event.occurred_at)
        doc["reason_code"] = event.reason_code

    def _status(self, event: LifecycleEvent) -> None:
        code = event.status_code
        if code is None:  # _decode refuses these; kept for the type checker
            return
        document_id = event.document_id
        if code.sent_by_sender:
            # A take-back comes from the document's sender, addressed to a recipient.
            sender = event.actor
            doc = self._document(document_id, sender, event)
            doc["taken_back_at"] = _earliest(doc["taken_back_at"], event.occurred_at)
            targets = (
                [event.recipient]
                if event.recipient
                else [recipient for (doc_id, recipient) in self.deliveries if doc_id == document_id]
            )
            for recipient in targets:
                self._step(self._delivery(document_id, recipient, sender), code, event)
            return
        # Any other status is the report of one recipient about its own delivery.
        sender = event.recipient or event.actor
        self._document(document_id, sender, event)
        self._step(self._delivery(document_id, event.actor, sender), code, event)

    @staticmethod
    def _step(delivery: dict[str, Any], code: StatusCode, event: LifecycleEvent) -> None:
        at = event.occurred_at
        column = STEP_COLUMNS.get(code)
        if column is not None:
            delivery[column] = _earliest(delivery[column], at)
        if delivery["status_at"] is None or at >= delivery["status_at"]:
            delivery["status_code"] = code.value
            delivery["status_at"] = at
            delivery["status_description"] = event.description


def _decode(record: IncomingRecord) -> LifecycleEvent:
    if record.value is None:
        raise EventDecodeError("record has no value (a tombstone on edx.events)")
    event = decode_event(record.value)
    if event.kind is EventKind.STATUS and event.status_code is None:
        raise EventDecodeError(f"STATUS event {event.event_id} carries no status code")
    return event


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _insert_and_update(
    connection: Connection,
    table: Any,
    key_columns: tuple[str, ...],
    rows: Mapping[Any, dict[str, Any]],
    new: set[Any],
    dirty: set[Any],
) -> None:
    inserts = [rows[key] for key in sorted(new)]
    if inserts:
        connection.execute(insert(table), inserts)
    changed = [rows[key] for key in sorted(dirty - new)]
    if not changed:
        return
    value_columns = [c.name for c in table.columns if c.name not in key_columns]
    statement = (
        update(table)
        .where(*(table.c[name] == bindparam(f"key_{name}") for name in key_columns))
        .values({name: bindparam(f"new_{name}") for name in value_columns})
    )
    connection.execute(
        statement,
        [
            {
                **{f"key_{k}": row[k] for k in key_columns},
                **{f"new_{name}": row[name] for name in value_columns},
            }
            for row in changed
        ],
    )
