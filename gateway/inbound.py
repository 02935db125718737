"""Reading the inboxes of every agency a gateway serves, with one consumer.

One consumer is assigned every partition of ``edx.inbox.<code>`` for the agencies of
all registered systems (re-read when systems change), so one gateway serves thousands
of agencies without a consumer per agency. Each record is verified (signature, sender
binding, addressee) and stored in the gateway's database in the same transaction as
the next offset of its partition: the position lives beside the rows it produced, so
a gateway killed at any point resumes exactly after the last stored record, and no
item is stored, or handed to a system, twice.

Bookkeeping for what the served agencies sent happens here too: statuses from
recipients settle the outboxes, the router's rejection notices stop re-submission.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from bus import (
    Header,
    Settings,
    content_digest,
    decode_headers,
    get_logger,
    make_consumer,
    translate_errors,
)
from edxml import DocumentPackage, Mode, StatusCode, parse
from edxml.errors import EdxbusError
from gateway._time import utc_now
from gateway.ids import receiver_doc_id
from gateway.outboxes import Outboxes
from gateway.store.schema import INBOX, POSITIONS, QUARANTINE
from gateway.systems import SystemRegistry
from signing import Verifier

__all__ = ["InboxPump", "MessageType"]

_log = get_logger("gateway.inbound")


class MessageType:
    """The hub's ``messagetype`` values."""

    EDOC = "edoc"
    STATUS = "status"


class InboxPump:
    """The gateway's single reader of its agencies' inboxes."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        registry: SystemRegistry,
        verifier: Verifier,
        outboxes: Outboxes,
        *,
        refresh_seconds: float = 2.0,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._registry = registry
        self._verifier = verifier
        self._outboxes = outboxes
        self._refresh_seconds = refresh_seconds
        self._consumer: Any = None
        self._assigned: frozenset[str] = frozenset()
        self._version = -1
        self.stored = asyncio.Event()

    async def run(self) -> None:
        """Read until cancelled; a bus that does not answer is retried."""
        try:
            while True:
                try:
                    await self._ensure_consumer()
                    await self._refresh_assignment()
                    await self._pump_for(self._refresh_seconds)
                except EdxbusError as exc:
                    _log.warning("reading the inboxes: %s; retrying", exc)
                    await self._drop_consumer()
                    await asyncio.sleep(1.0)
        finally:
            await self._drop_consumer()

    async def _ensure_consumer(self) -> None:
        if self._consumer is not None:
            return
        consumer = make_consumer(self._settings, group_id=None, fetch_max_wait_ms=100)
        with translate_errors("connecting the gateway's inbox reader"):
            await consumer.start()
        self._consumer = consumer
        self._assigned = frozenset()
        self._version = -1

    async def _drop_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _refresh_assignment(self) -> None:
        version = self._registry.version()
        missing = any(
            not self._consumer.partitions_for_topic(self._settings.topics.inbox(a))
            for a in self._assigned
        )
        if version == self._version and not missing:
            return
        wanted = self._registry.served_agencies()
        with translate_errors("reading the inbox topics' metadata"):
            await self._consumer.topics()
        partitions: list[TopicPartition] = []
        present: set[str] = set()
        for agency in sorted(wanted):
            topic = self._settings.topics.inbox(agency)
            found = self._consumer.partitions_for_topic(topic)
            if not found:
                _log.warning(
                    "inbox topic %s does not exist yet (is %s registered?)",
                    topic,
                    agency,
                    agency=agency,
                )
                continue
            present.add(agency)
            partitions.extend(TopicPartition(topic, p) for p in sorted(found))
        positions = self._positions()
        self._consumer.assign(partitions)
        for tp in partitions:
            position = positions.get((tp.topic, tp.partition))
            if position is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, position)
        self._assigned = frozenset(present)
        self._version = version if present == wanted else -1

    def _positions(self) -> dict[tuple[str, int], int]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(POSITIONS)).all()
        return {(r.topic, r.partition): int(r.next_offset) for r in rows}

    async def _pump_for(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while loop.time() < until:
            if not self._consumer.assignment():
                await asyncio.sleep(0.2)
                continue
            with translate_errors("reading the inboxes"):
                batch = await self._consumer.getmany(timeout_ms=200, max_records=100)
            for records in batch.values():
                for record in records:
                    await self._take(record)
            if batch:
                self.stored.set()

    async def _take(self, record: Any) -> None:
        """Verify and store one record, and its partition's next offset, in one transaction."""
        agency = record.topic.removeprefix(self._settings.topics.inbox_prefix)
        data: bytes = record.value or b""
        headers = decode_headers(record.headers)
        digest = content_digest(data)
        source = f"{record.topic}/{record.partition}/{record.offset}"
        rows: list[dict[str, Any]] = []
        quarantine: dict[str, Any] | None = None
        if headers.get(Header.KIND) == "rejection":
            self._rejected(agency, headers, digest)
        else:
            try:
                verified = await asyncio.to_thread(self._verifier.verify, data)
                package = parse(
                    verified.signed_bytes, mode=Mode.STRICT, limits=self._verifier.limits
                ).package
                if package.sender_code != verified.agency_code:
                    raise _Kept(
                        "sender-mismatch",
                        f"signed by {verified.agency_code} but sent as {package.sender_code}",
                    )
            except EdxbusError as exc:
                quarantine = _quarantined(agency, source, exc.reason_code, str(exc), data, digest)
            except _Kept as kept:
                quarantine = _quarantined(agency, source, kept.code, kept.why, data, digest)
            else:
                sender = verified.agency_code
                now = utc_now()
                if isinstance(package, DocumentPackage):
                    if agency in package.recipient_codes:
                        rows.append(
                            _row(
                                agency,
                                "edoc",
                                sender,
                                package.document_id,
                                None,
                                digest,
                                data,
                                source,
                                now,
                            )
                        )
                    else:
                        quarantine = _quarantined(
                            agency,
                            source,
                            "misaddressed",
                            f"document {package.document_id} is not addressed to {agency}",
                            data,
                            digest,
                        )
                else:
                    code = StatusCode(package.status_code)
                    answered = package.document_id
                    outbox = self._outboxes.of(agency)
                    if code is not StatusCode.TAKE_BACK and outbox.get(answered) is not None:
                        outbox.record_status(
                            answered, sender, code.value, package.description, digest
                        )
                    rows.append(
                        _row(
                            agency,
                            "status",
                            sender,
                            answered,
                            code.value,
                            digest,
                            data,
                            source,
                            now,
                        )
                    )
        answered_again: list[str] = []
        with self._engine.begin() as conn:
            for row in rows:
                existing = conn.execute(
                    select(INBOX.c.state).where(INBOX.c.doc_id == row["doc_id"])
                ).first()
                if existing is None:
                    conn.execute(insert(INBOX).values(**row))
                    continue
                _log.info(
                    "package %s for %s read again; stored once",
                    row["document_id"],
                    agency,
                    agency=agency,
                )
                if row["message_type"] == "edoc" and existing.state == "done":
                    answered_again.append(row["document_id"])
            if (
                quarantine is not None
                and conn.execute(
                    select(QUARANTINE.c.id).where(QUARANTINE.c.source == source)
                ).first()
                is None
            ):
                conn.execute(insert(QUARANTINE).values(**quarantine))
                _log.warning(
                    "inbox of %s: record %s kept back: %s [%s]",
                    agency,
                    source,
                    quarantine["reason"],
                    quarantine["reason_code"],
                    agency=agency,
                )
            _store_position(conn, record.topic, record.partition, record.offset + 1)
        for document_id in answered_again:
            await self._repeat_arrival(agency, document_id)

    async def _repeat_arrival(self, agency: str, document_id: str) -> None:
        """The sender re-submitted a document already taken: our 01 did not reach it.

        The 01 kept in the outbox goes out again, the very same bytes.
        """
        outbox = self._outboxes.of(agency)
        for entry in outbox.sent_statuses(document_id):
            if entry.status_code == StatusCode.ARRIVED.value:
                _log.info(
                    "document %s seen again by %s; 01 repeated",
                    document_id,
                    agency,
                    document_id=document_id,
                    agency=agency,
                )
                await self._outboxes.publish(agency, entry)
                return

    def _rejected(self, agency: str, headers: dict[str, str], digest: str) -> None:
        document_id = headers.get(Header.DOCUMENT_ID, "")
        reason_code = headers.get(Header.REASON_CODE, "rejected")
        reason = headers.get(Header.REASON, "refused by the router")
        self._outboxes.of(agency).mark_rejected(document_id, digest, reason_code, reason)
        _log.warning(
            "package %s of %s refused by the router: %s [%s]",
            document_id,
            agency,
            reason,
            reason_code,
            agency=agency,
            reason_code=reason_code,
        )


class _Kept(Exception):
    def __init__(self, code: str, why: str) -> None:
        super().__init__(why)
        self.code = code
        self.why = why


def _row(
    agency: str,
    message_type: str,
    sender: str,
    document_id: str,
    status_code: str | None,
    digest: str,
    data: bytes,
    source: str,
    now: Any,
) -> dict[str, Any]:
    return {
        "doc_id": receiver_doc_id(agency, message_type, sender, document_id, digest),
        "agency": agency,
        "message_type": message_type,
        "sender": sender,
        "document_id": document_id,
        "status_code": status_code,
        "digest": digest,
        "data": data,
        "state": "initial",
        "source": source,
        "created_at": now,
        "updated_at": now,
    }


def _quarantined(
    agency: str, source: str, code: str, why: str, data: bytes, digest: str
) -> dict[str, Any]:
    return {
        "agency": agency,
        "source": source,
        "reason_code": code,
        "reason": why,
        "digest": digest,
        "data": data,
        "created_at": utc_now(),
    }


def _store_position(conn: Connection, topic: str, partition: int, next_offset: int) -> None:
    changed = conn.execute(
        update(POSITIONS)
        .where(POSITIONS.c.topic == topic, POSITIONS.c.partition == partition)
        .values(next_offset=next_offset)
    )
    if not changed.rowcount:
        conn.execute(
            insert(POSITIONS).values(topic=topic, partition=partition, next_offset=next_offset)
        )
