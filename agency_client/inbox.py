"""Reading an agency's inbox: verify, deduplicate, hand over, answer 01, commit.

The order of DESIGN.md §6 is kept for every record:

1. the record is read and verified here (signature, sender binding, addressee),
   through the deployment's one read path (``bus.PackageReader``: the same trust,
   limits and agency pattern as the router, so both give one verdict);
2. it is handed to the application (``receive()`` yields it);
3. once the application has *taken* it — it asks for the next package, calls
   ``acknowledge()``, or leaves the ``receive()`` block or the client without an
   exception — the package is recorded in the dedup store, its status 01 is
   signed and kept in the outbox (documents only; published from there, and
   published again if it gets lost), and only then is the offset committed.

A crash anywhere before step 3 leaves the offset uncommitted: the record is read
again and handed over again. A crash after the dedup record but before the
commit makes the record come back too; it is then recognised, not handed over,
and its 01 is sent again with the very bytes sent the first time.

Bookkeeping for the agency's own documents happens at step 1, whether or not the
application reads: statuses from recipients settle the outbox, rejection notices
stop its re-submissions. It never waits for the application: when the queue of
packages handed over is full, the reader goes on reading for the bookkeeping alone,
remembers the first record it could not hand over (nothing is committed past it),
and reads the partition again from there once the application has caught up.

A broker that lost its data (the embedded Tansu keeps everything in memory; a
Kafka topic deleted and created again) is noticed per partition: its end falls
below the position already read, or the records start again below it. The reader
then reads that partition again from its start; the dedup store recognises what
the application already took, so nothing reaches it twice, and whatever the
router writes again into the new, empty inbox is read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agency_client._inbox_store import InboxStore
from agency_client.items import InboxItem, IncomingDocument, IncomingStatus, RejectionNotice
from agency_client.outbox import Outbox
from bus import (
    Header,
    PackageReader,
    content_digest,
    decode_headers,
    get_logger,
    translate_errors,
)
from edxml import DocumentPackage, StatusCode, StatusPackage
from edxml.errors import EdxbusError
from signing import ReadPackage

__all__ = ["Inbox", "InboxReader"]

_log = get_logger("agency_client.inbox")

#: Seconds between two looks at the offsets the broker keeps for the inbox.
_OFFSETS_CHECK_EVERY = 5.0
#: Seconds between two offset commits while records keep coming (a read that found
#: nothing commits at once). Each commit is two requests (the stored offset is
#: checked first); committing later only means reading more again after a crash.
_COMMIT_EVERY = 0.1


@dataclass
class _Partition:
    """Offsets read from one partition, in order, with whether each is settled.

    ``generation`` counts the times the partition was read again from its start
    (its broker lost it); a package handed over before that settles nothing after.
    ``resume_from`` is the first record not handed over because the queue was full.
    """

    offsets: deque[list[Any]] = field(default_factory=deque)
    committed: int | None = None
    next_offset: int | None = None
    generation: int = 0
    resume_from: int | None = None

    def add(self, offset: int) -> None:
        self.offsets.append([offset, False])

    def done(self, offset: int) -> None:
        for entry in self.offsets:
            if entry[0] == offset:
                entry[1] = True

    def committable(self) -> int | None:
        """The offset to commit: just past the last settled record before any unsettled one."""
        last: int | None = None
        while self.offsets and self.offsets[0][1]:
            last = self.offsets.popleft()[0]
        if self.offsets:
            head = int(self.offsets[0][0])
            return head if head != self.committed else None
        if last is None:
            return None
        return last + 1 if last + 1 != self.committed else None

    def restart(self, offset: int | None) -> None:
        """Forget what was read (the broker lost it): read again from ``offset``."""
        self.offsets.clear()
        self.committed = None
        self.next_offset = offset
        self.generation += 1
        self.resume_from = None

    def rewind(self) -> int:
        """Read again from ``resume_from`` (the application caught up); the offset."""
        assert self.resume_from is not None
        offset, self.resume_from = self.resume_from, None
        while self.offsets and self.offsets[-1][0] >= offset:
            self.offsets.pop()
        self.next_offset = offset
        return offset


#: What reading a record gave: the verified package, the error that refused it,
#: or ``None`` for a router's rejection notice (not verified here).
_Checked = ReadPackage | EdxbusError | None


@dataclass(frozen=True)
class _Handed:
    item: InboxItem
    topic: str
    partition: int
    offset: int
    generation: int = 0


class InboxReader:
    """The single reader of one agency's inbox topic (runs as a task of the client)."""

    def __init__(
        self,
        *,
        agency: str,
        consumer: Any,
        reader: PackageReader,
        store: InboxStore,
        outbox: Outbox,
        acknowledge_arrival: Callable[[IncomingDocument], Awaitable[None]],
        on_change: Callable[[], None],
        on_broker_loss: Callable[[], None] = lambda: None,
        hand_over_statuses: bool = True,
        buffer: int = 256,
        max_batch: int = 200,
    ) -> None:
        self.agency = agency
        self._consumer = consumer
        self._package_reader = reader
        self._store = store
        self._outbox = outbox
        self._acknowledge_arrival = acknowledge_arrival
        self._on_change = on_change
        self._on_broker_loss = on_broker_loss
        self._hand_over_statuses = hand_over_statuses
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Handed] = asyncio.Queue(maxsize=buffer)
        self._partitions: dict[Any, _Partition] = {}
        self._outstanding: list[_Handed] = []
        self._attached = asyncio.Event()
        self._next_offsets_check = 0.0
        self._next_commit = 0.0
        if consumer is not None:
            self._attached.set()

    def attach(self, consumer: Any) -> None:
        """Give the reader its consumer (a client that started offline connects later)."""
        self._consumer = consumer
        self._attached.set()

    # --- the pump ----------------------------------------------------------------

    async def run(self) -> None:
        """Read the inbox until cancelled (waiting first for a consumer, if offline)."""
        await self._attached.wait()
        while True:
            self._resume_caught_up()
            try:
                with translate_errors(f"reading the inbox of {self.agency}"):
                    batch = await self._consumer.getmany(
                        timeout_ms=200, max_records=self._max_batch
                    )
            except EdxbusError as exc:
                _log.warning("inbox of %s: %s; retrying", self.agency, exc, agency=self.agency)
                await asyncio.sleep(0.5)
                continue
            read: list[tuple[Any, _Partition, Any]] = []
            for tp, records in batch.items():
                part = self._partitions.setdefault(tp, _Partition())
                first = records[0].offset if records else None
                if first is not None and part.next_offset is not None and first < part.next_offset:
                    # The broker sent the position back (Kafka resets one past the end).
                    self._lost(tp, part, f"records start again at {first}", seek_to=None)
                read += [(tp, part, record) for record in records]
            # The whole batch is verified at once (in threads); its bookkeeping runs in
            # the order read, its writes sharing one commit; then it is handed over.
            checks = await asyncio.gather(*(self._verify(record) for _, _, record in read))
            items = await asyncio.gather(
                *(self._classify(record, c) for (_, _, record), c in zip(read, checks, strict=True))
            )
            for (tp, part, record), item in zip(read, items, strict=True):
                self._take_in(tp, part, record, item)
            await self._check_ends()
            now = asyncio.get_running_loop().time()
            if not read or now >= self._next_commit:
                self._next_commit = now + _COMMIT_EVERY
                await self._commit()
            await self._check_committed()

    def _take_in(self, tp: Any, part: _Partition, record: Any, item: InboxItem | None) -> None:
        """Hand a classified record over if the queue has room, else come back to it."""
        part.next_offset = record.offset + 1
        if part.resume_from is not None:
            return  # bookkeeping done; handed over when the partition is read again
        part.add(record.offset)
        if item is None:
            part.done(record.offset)
        elif self._queue.full():
            part.resume_from = record.offset  # unsettled: nothing is committed past it
            _log.info(
                "inbox of %s: the application is behind; %s read again from %d later",
                self.agency,
                tp,
                record.offset,
                agency=self.agency,
            )
        else:
            self._queue.put_nowait(
                _Handed(item, record.topic, record.partition, record.offset, part.generation)
            )

    def _resume_caught_up(self) -> None:
        """Once the application has taken half the queue, read again what was left over."""
        if self._queue.qsize() > self._queue.maxsize // 2:
            return
        for tp, part in self._partitions.items():
            if part.resume_from is not None:
                self._consumer.seek(tp, part.rewind())

    async def _check_ends(self) -> None:
        """A partition whose end fell below what was read lost its records: read it again."""
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            if end is None:
                continue  # no fetch answered yet
            part = self._partitions.setdefault(tp, _Partition())
            if part.next_offset is None:
                # A fetch answered, so the position is known (nothing read yet).
                part.next_offset = await self._consumer.position(tp)
            if end < part.next_offset:
                self._lost(tp, part, f"its end is {end}, below {part.next_offset} already read")

    async def _check_committed(self) -> None:
        """Every few seconds, even with nothing to commit: :meth:`_offsets_kept`."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_offsets_check:
            return
        self._next_offsets_check = loop.time() + _OFFSETS_CHECK_EVERY
        for tp in list(self._partitions):
            await self._offsets_kept(tp)

    async def _offsets_kept(self, tp: Any) -> bool:
        """Whether the broker still holds the offset last committed here; if not, read again.

        A restarted broker whose new inbox already holds more records than were
        read from the old one passes the end check; its group offsets are gone too.
        Asked before every commit (a commit would hide the loss) and every few seconds.
        """
        part = self._partitions[tp]
        if not part.committed:
            return True
        try:
            with translate_errors(f"reading the committed offsets of {self.agency}"):
                stored = await self._consumer.committed(tp)
        except EdxbusError:
            return True  # asked again next time
        if stored is not None and stored >= part.committed:
            return True
        self._lost(tp, part, f"its committed offset is {stored}, not {part.committed}")
        return False

    def _lost(self, tp: Any, part: _Partition, why: str, *, seek_to: int | None = 0) -> None:
        """Read ``tp`` again from its start (``seek_to=None``: the consumer is there already)."""
        _log.warning(
            "inbox of %s: the broker lost %s (%s); reading it again from its start",
            self.agency,
            tp,
            why,
            agency=self.agency,
        )
        part.restart(seek_to)
        self._on_broker_loss()
        if seek_to is not None:
            # Offset 0: on a broker that keeps less (retention), the consumer's reset
            # policy ("earliest") moves on to the first record there is.
            self._consumer.seek(tp, seek_to)

    async def _verify(self, record: Any) -> _Checked:
        """Read one record (no bookkeeping): run for a whole batch at once, in threads."""
        if decode_headers(record.headers).get(Header.KIND) == "rejection":
            return None  # the router's own notice: not signed by an agency
        try:
            return await asyncio.to_thread(self.check, record.value or b"")
        except EdxbusError as exc:
            return exc

    def check(self, data: bytes) -> ReadPackage:
        """The receive check of a package: its signature, its signed content read under
        the deployment's rules, its sender bound to its signer (``bus.PackageReader``).

        Raises the named error (an ``EdxbusError``) that keeps the record back.
        """
        return self._package_reader.read(data)

    async def _classify(self, record: Any, checked: _Checked) -> InboxItem | None:
        """Do the agency's bookkeeping for a verified record; the item to hand over, if any.

        Called for the records of a batch in the order they were read: each reaches
        its first store write before the next starts, so the writes are committed
        in that order (statuses stay oldest first), and together.
        """
        data: bytes = record.value or b""
        headers = decode_headers(record.headers)
        digest = content_digest(data)
        source = f"{record.topic}/{record.partition}/{record.offset}"
        claimed = record.key.decode("utf-8", "replace") if record.key else ""
        if headers.get(Header.KIND) == "rejection":
            return await self._rejection(headers, data, digest, source)
        if isinstance(checked, EdxbusError):
            self._quarantine(
                source, claimed, headers, checked.reason_code, str(checked), data, digest
            )
            return None
        assert checked is not None
        verified, package = checked.verified, checked.package
        sender = verified.agency_code  # the read bound the package's sender to it
        if isinstance(package, DocumentPackage):
            return await self._document(package, verified, sender, data, digest, source, headers)
        return await self._status(package, verified, sender, data, digest, source)

    async def _document(
        self,
        package: DocumentPackage,
        verified: Any,
        sender: str,
        data: bytes,
        digest: str,
        source: str,
        headers: dict[str, str],
    ) -> IncomingDocument | None:
        if self.agency not in {r.organ_id for r in package.recipients}:
            why = f"document {package.document_id} is not addressed to {self.agency}"
            self._quarantine(source, sender, headers, "misaddressed", why, data, digest)
            return None
        item = IncomingDocument(
            document_id=package.document_id,
            sender=sender,
            data=data,
            digest=digest,
            package=package,
            verified=verified,
            source=source,
        )
        if self._store.has_taken("document", sender, package.document_id, digest):
            # Already taken: the sender re-submitted because our 01 did not reach it.
            _log.info(
                "document %s from %s seen again; 01 repeated",
                item.document_id,
                sender,
                document_id=item.document_id,
                agency=self.agency,
            )
            await self._acknowledge_arrival(item)
            return None
        return item

    async def _status(
        self,
        package: StatusPackage,
        verified: Any,
        sender: str,
        data: bytes,
        digest: str,
        source: str,
    ) -> IncomingStatus | None:
        answered = package.response_for.document_id
        code = StatusCode(package.status_code)
        mine = code is not StatusCode.TAKE_BACK and self._outbox.has_document(answered)
        # Not handed over: the bookkeeping is all it needs (remembering is idempotent).
        quiet = not self._hand_over_statuses and code is not StatusCode.TAKE_BACK
        writes: list[Awaitable[bool]] = []
        if mine:
            writes.append(
                self._outbox.note_status(answered, sender, code.value, package.description, digest)
            )
        if quiet:
            writes.append(
                self._store.remember_taken(
                    "status", sender, answered, digest, data, status_code=code
                )
            )
        # Together, in this order: one commit for the arrival and the memory of it.
        noted = await asyncio.gather(*writes)
        if mine and noted[0]:
            self._on_change()
        if quiet:
            return None
        if self._store.has_taken("status", sender, answered, digest):
            return None
        item = IncomingStatus(
            document_id=answered,
            sender=sender,
            status_code=code,
            description=package.description,
            data=data,
            digest=digest,
            package=package,
            verified=verified,
            source=source,
        )
        return item

    async def _rejection(
        self, headers: dict[str, str], data: bytes, digest: str, source: str
    ) -> RejectionNotice | None:
        document_id = headers.get(Header.DOCUMENT_ID, "")
        reason_code = headers.get(Header.REASON_CODE, "rejected")
        reason = headers.get(Header.REASON, "refused by the router")
        entry = self._outbox.mark_rejected(document_id, digest, reason_code, reason)
        self._on_change()
        _log.warning(
            "package %s of %s refused by the router: %s [%s]",
            document_id or digest[:12],
            self.agency,
            reason,
            reason_code,
            document_id=document_id or None,
            agency=self.agency,
            reason_code=reason_code,
        )
        if self._store.has_taken("rejection", self.agency, document_id, digest):
            return None
        if not self._hand_over_statuses:  # the bookkeeping above is all it needs
            await self._store.remember_taken("rejection", self.agency, document_id, digest, data)
            return None
        return RejectionNotice(
            document_id=document_id,
            reason_code=reason_code,
            reason=reason,
            data=data,
            digest=digest,
            in_outbox=entry is not None,
            source=source,
        )

    def _quarantine(
        self,
        source: str,
        sender: str,
        headers: dict[str, str],
        reason_code: str,
        reason: str,
        data: bytes,
        digest: str,
    ) -> None:
        document_id = headers.get(Header.DOCUMENT_ID, "")
        _log.warning(
            "inbox of %s: record %s (document %s) kept back: %s [%s]",
            self.agency,
            source,
            document_id,
            reason,
            reason_code,
            document_id=document_id or None,
            agency=self.agency,
            reason_code=reason_code,
        )
        self._store.quarantine(source, sender, document_id, reason_code, reason, data, digest)

    # --- handing over and settling -------------------------------------------

    async def next(self, idle_timeout: float | None) -> InboxItem | None:
        """The next package for the application; ``None`` after ``idle_timeout`` idle seconds."""
        batch = await self.next_batch(idle_timeout, 1)
        return batch[0] if batch else None

    async def next_batch(self, idle_timeout: float | None, max_items: int) -> list[InboxItem]:
        """Up to ``max_items`` packages that are ready (waiting for the first only).

        Empty after ``idle_timeout`` idle seconds. The whole batch is settled
        together when the application asks again (one commit for its dedup
        records and 01s, its 01s published together).
        """
        await self.settle_outstanding()
        while True:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a
                # cancellation (Ctrl-C) that comes as the awaited call completes.
                async with asyncio.timeout(idle_timeout):
                    handed = await self._queue.get()
            except TimeoutError:
                return []
            await self._hand_over(handed)
            while len(self._outstanding) < max_items and not self._queue.empty():
                await self._hand_over(self._queue.get_nowait())
            if self._outstanding:
                return [h.item for h in self._outstanding]

    async def _hand_over(self, handed: _Handed) -> None:
        # Checked again here: a copy may have been queued before the first was taken.
        if any(
            h.item.digest == handed.item.digest and h.item.kind == handed.item.kind
            for h in self._outstanding
        ):
            self._mark_done(handed)  # a copy in this batch: the first one's 01 answers both
            return
        if not self._already_taken(handed.item):
            self._outstanding.append(handed)
            return
        if isinstance(handed.item, IncomingDocument):
            await self._acknowledge_arrival(handed.item)
        self._mark_done(handed)

    def _already_taken(self, item: InboxItem) -> bool:
        if isinstance(item, RejectionNotice):
            return self._store.has_taken("rejection", self.agency, item.document_id, item.digest)
        return self._store.has_taken(item.kind, item.sender, item.document_id, item.digest)

    def _mark_done(self, handed: _Handed) -> None:
        for tp, part in self._partitions.items():
            same = tp.topic == handed.topic and tp.partition == handed.partition
            if same and part.generation == handed.generation:
                part.done(handed.offset)

    async def acknowledge(self, item: InboxItem) -> None:
        """The application has taken ``item`` (settles it now rather than on the next read)."""
        for handed in self._outstanding:
            if handed.item is item:
                self._outstanding.remove(handed)
                await self._settle([handed])
                return

    async def settle_outstanding(self) -> None:
        """Record, answer 01 and commit the packages last handed over, if any."""
        handed, self._outstanding = self._outstanding, []
        if handed:
            await self._settle(handed)

    async def _settle(self, handed: list[_Handed]) -> None:
        # Concurrently: the dedup records and the 01s they call for share one commit.
        await asyncio.gather(*(self._record_taken(h.item) for h in handed))
        # The offsets are committed by the reader's next round (within a fetch wait):
        # everything they cover is recorded, and the 01s are in the outbox.
        for h in handed:
            self._mark_done(h)

    async def _record_taken(self, item: InboxItem) -> None:
        if isinstance(item, IncomingDocument):
            promulgation = item.package.promulgation
            await asyncio.gather(
                self._store.remember_taken(
                    "document",
                    item.sender,
                    item.document_id,
                    item.digest,
                    item.data,
                    code=f"{item.package.code.number}/{item.package.code.notation}",
                    promulgation_date=promulgation.date if promulgation is not None else None,
                ),
                self._acknowledge_arrival(item),
            )
        elif isinstance(item, IncomingStatus):
            await self._store.remember_taken(
                "status",
                item.sender,
                item.document_id,
                item.digest,
                item.data,
                status_code=item.status_code.value,
            )
        else:
            await self._store.remember_taken(
                "rejection", self.agency, item.document_id, item.digest, item.data
            )

    async def commit(self) -> None:
        """Commit now what is settled (the client calls this when it stops)."""
        await self._commit()

    async def _commit(self) -> None:
        offsets = {}
        for tp, part in self._partitions.items():
            position = part.committable()
            if position is not None:
                offsets[tp] = position
        if not offsets or self._consumer is None:
            return
        for tp in list(offsets):
            if not await self._offsets_kept(tp):
                del offsets[tp]  # read again from the start: nothing of it to commit
        if not offsets:
            return
        try:
            with translate_errors("committing inbox offsets"):
                await self._consumer.commit(offsets)
        except EdxbusError as exc:
            # Not fatal: the records come back and are recognised by the dedup store.
            _log.warning("inbox of %s: commit failed: %s", self.agency, exc, agency=self.agency)
            return
        for tp, position in offsets.items():
            self._partitions[tp].committed = position


class Inbox:
    """The async iterator ``AgencyClient.receive()`` returns.

    Use it as ``async for item in client.receive(): ...`` or, to settle the last
    package on a clean exit, ``async with client.receive() as inbox: async for ...``.
    Iteration ends after ``idle_timeout`` seconds without a package (never, if
    ``None``).
    """

    def __init__(self, reader: InboxReader, idle_timeout: float | None) -> None:
        self._reader = reader
        self._idle_timeout = idle_timeout

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> InboxItem:
        item = await self._reader.next(self._idle_timeout)
        if item is None:
            raise StopAsyncIteration
        return item

    async def acknowledge(self, item: InboxItem) -> None:
        """Mark ``item`` as taken now (01 and commit) instead of on the next read."""
        await self._reader.acknowledge(item)

    async def batches(self, max_items: int = 100) -> AsyncIterator[list[InboxItem]]:
        """The packages in batches of what is ready, up to ``max_items`` each.

        A batch counts as taken, all of it, when the application asks for the next
        one (or leaves the ``async with`` block without an exception): its dedup
        records and 01s go to disk in one commit, and its 01s are published
        together. For software that registers many documents at a time.
        """
        while True:
            batch = await self._reader.next_batch(self._idle_timeout, max_items)
            if not batch:
                return
            yield batch

    async def __aenter__(self) -> Inbox:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            await self._reader.settle_outstanding()
