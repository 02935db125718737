"""The sender's durable outbox (DESIGN.md §6).

Every package an agency sends is written here *before* it is published, and a
document stays ``pending`` until every recipient's status 01 (arrived) has come
back. While a recipient stays silent the client re-submits the very same bytes
(:meth:`Outbox.due_for_resubmit`), so a crash of the client, a broker outage, even
a broker that loses its data, loses no document. The stored bytes are what was
signed: a re-submission is byte for byte the original, which the router treats
as a retry and the recipients deduplicate.

Status packages the agency sends are kept here too, as the agency's own record;
no 01 answers a status, so they are ``published`` once the broker acknowledged them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from agency_client._group_commit import GroupCommit
from agency_client._store import METADATA, Clock, LocalDatabase, StoreFile, utc_now
from agency_client.errors import DuplicateDocumentError
from bus import UtcDateTime

__all__ = ["Outbox", "OutboxEntry", "OutboxState", "PackageKind", "RecipientStatus"]


class OutboxState(StrEnum):
    """Where a package in the outbox stands."""

    PENDING = "pending"  # a document some recipient has not confirmed (01) yet
    DELIVERED = "delivered"  # every recipient returned 01
    PUBLISHED = "published"  # a status package the broker acknowledged
    REJECTED = "rejected"  # the router refused it; the reason is kept


class PackageKind(StrEnum):
    """The two kinds of package an agency sends."""

    DOCUMENT = "document"
    STATUS = "status"


@dataclass(frozen=True)
class RecipientStatus:
    """One status a recipient reported on a document this agency sent."""

    recipient: str
    status_code: str
    description: str
    at: datetime


@dataclass(frozen=True)
class OutboxEntry:
    """A package in the outbox, with what is known about its delivery."""

    document_id: str
    kind: PackageKind
    digest: str
    data: bytes
    recipients: tuple[str, ...]
    state: OutboxState
    created_at: datetime
    submitted_at: datetime | None
    submit_count: int
    arrived: frozenset[str]
    reason_code: str | None = None
    reason: str | None = None
    # For a status package: the DocumentId it answers and its code.
    answers: str | None = None
    status_code: str | None = None

    @property
    def missing(self) -> tuple[str, ...]:
        """Recipients whose 01 has not come back yet."""
        return tuple(r for r in self.recipients if r not in self.arrived)


_packages = Table(
    "outbox_packages",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("document_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("state", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("submitted_at", UtcDateTime, nullable=True),
    Column("submit_count", Integer, nullable=False, default=0),
    Column("reason_code", String, nullable=True),
    Column("reason", Text, nullable=True),
    Column("answers", String, nullable=True),
    Column("status_code", String(2), nullable=True),
    # A document is identified by its DocumentId; a status by its bytes.
    UniqueConstraint("kind", "document_id", "digest", name="uq_outbox_package"),
    # The status kept for a document (the 01 answered again), a package by its bytes.
    Index("ix_outbox_packages_answers", "answers"),
    Index("ix_outbox_packages_digest", "digest"),
)

_recipients = Table(
    "outbox_recipients",
    METADATA,
    Column("document_id", String, primary_key=True),
    Column("recipient", String, primary_key=True),
    Column("arrived_at", UtcDateTime, nullable=True),
)

_statuses = Table(
    "outbox_statuses",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("document_id", String, nullable=False),
    Column("recipient", String, nullable=False),
    Column("status_code", String(2), nullable=False),
    Column("description", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("document_id", "recipient", "digest", name="uq_outbox_status"),
)

# The statements of the per-package path, built once: building a statement costs
# more than the local lookup it runs (bound parameters are named b_*: names of
# columns are the SET clause's own).
_DOCUMENT_DIGEST = select(_packages.c.digest).where(
    _packages.c.kind == PackageKind.DOCUMENT, _packages.c.document_id == bindparam("b_doc")
)
_DOCUMENT_ROW = select(_packages).where(
    _packages.c.kind == PackageKind.DOCUMENT, _packages.c.document_id == bindparam("b_doc")
)
_STATUS_ROW = select(_packages).where(
    _packages.c.kind == PackageKind.STATUS, _packages.c.digest == bindparam("b_digest")
)
_ARRIVAL_ROW = (
    select(_packages)
    .where(
        _packages.c.kind == PackageKind.STATUS,
        _packages.c.answers == bindparam("b_doc"),
        _packages.c.status_code == "01",
    )
    .order_by(_packages.c.id)
    .limit(1)
)
_RECIPIENTS_OF = (
    select(_recipients.c.recipient, _recipients.c.arrived_at)
    .where(_recipients.c.document_id == bindparam("b_doc"))
    .order_by(_recipients.c.recipient)
)
_INSERT_PACKAGE = insert(_packages)
_INSERT_RECIPIENT = insert(_recipients)
_INSERT_STATUS = insert(_statuses)
_THIS_PACKAGE = and_(
    _packages.c.kind == bindparam("b_kind"),
    _packages.c.document_id == bindparam("b_doc"),
    _packages.c.digest == bindparam("b_digest"),
)
_SUBMITTED = (
    update(_packages)
    .where(_THIS_PACKAGE)
    .values(submitted_at=bindparam("b_now"), submit_count=_packages.c.submit_count + 1)
)
_STATUS_PUBLISHED = (
    update(_packages)
    .where(_THIS_PACKAGE, _packages.c.state == OutboxState.PENDING)
    .values(state=OutboxState.PUBLISHED)
)
_STATUS_SEEN = select(_statuses.c.id).where(
    _statuses.c.document_id == bindparam("b_doc"),
    _statuses.c.recipient == bindparam("b_recipient"),
    _statuses.c.digest == bindparam("b_digest"),
)
_ARRIVED = (
    update(_recipients)
    .where(
        _recipients.c.document_id == bindparam("b_doc"),
        _recipients.c.recipient == bindparam("b_recipient"),
        _recipients.c.arrived_at.is_(None),
    )
    .values(arrived_at=bindparam("b_now"))
)
_MISSING = select(_recipients.c.recipient).where(
    _recipients.c.document_id == bindparam("b_doc"), _recipients.c.arrived_at.is_(None)
)
_DELIVERED = (
    update(_packages)
    .where(
        _packages.c.kind == PackageKind.DOCUMENT,
        _packages.c.document_id == bindparam("b_doc"),
        _packages.c.state == OutboxState.PENDING,
    )
    .values(state=OutboxState.DELIVERED)
)


class Outbox:
    """One agency's outbox in its local SQLite file.

    Synchronous on purpose: every call is one short local transaction, and the
    order "written here, then published" must hold without any interleaving.
    The file is a :class:`LocalDatabase`: given as ``database`` (shared with the
    inbox store), or opened at ``path`` and owned (closed with the outbox).
    """

    def __init__(
        self, path: Path, *, clock: Clock = utc_now, database: LocalDatabase | None = None
    ) -> None:
        self._file = StoreFile.hold(path, database)
        self.database = self._file.database
        self.path = self.database.path
        self._clock = clock

    @property
    def group_commit(self) -> GroupCommit:
        """The group commit of the file (the inbox store may share it)."""
        return self.database.group_commit

    def close(self) -> None:
        """Release the file, when the outbox opened it."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------

    def add_document(
        self, document_id: str, data: bytes, digest: str, recipients: Sequence[str]
    ) -> OutboxEntry:
        """Keep a document before it is published; idempotent for the same bytes.

        Raises :class:`DuplicateDocumentError` when the DocumentId is already in the
        outbox with other bytes: the router would refuse them as a replay.
        """
        self.database.write(self._document_writer(document_id, data, digest, recipients))
        entry = self.get(document_id)
        assert entry is not None
        return entry

    async def keep_document(
        self, document_id: str, data: bytes, digest: str, recipients: Sequence[str]
    ) -> None:
        """:meth:`add_document`, committed together with concurrent writes (one fsync).

        Returns once the document is on disk; raises as :meth:`add_document` does.
        """
        await self.group_commit.write(self._document_writer(document_id, data, digest, recipients))

    def _document_writer(
        self, document_id: str, data: bytes, digest: str, recipients: Sequence[str]
    ) -> Callable[[Connection], None]:
        if not recipients:
            raise ValueError("a document needs at least one recipient")
        unique = list(dict.fromkeys(recipients))

        def write(conn: Connection) -> None:
            existing = conn.execute(_DOCUMENT_DIGEST, {"b_doc": document_id}).first()
            if existing is not None:
                if existing.digest != digest:
                    raise DuplicateDocumentError(document_id)
                return
            self._insert_pending(conn, PackageKind.DOCUMENT, document_id, digest, data)
            conn.execute(
                _INSERT_RECIPIENT, [{"document_id": document_id, "recipient": r} for r in unique]
            )

        return write

    def add_status(self, answers: str, status_code: str, data: bytes, digest: str) -> OutboxEntry:
        """Keep a status package before it is published; idempotent for the same bytes."""
        return self.database.write(self._status_writer(answers, status_code, data, digest))

    async def keep_status(
        self, answers: str, status_code: str, data: bytes, digest: str
    ) -> OutboxEntry:
        """:meth:`add_status`, committed together with concurrent writes (one fsync)."""
        return await self.group_commit.write(
            self._status_writer(answers, status_code, data, digest)
        )

    def _status_writer(
        self, answers: str, status_code: str, data: bytes, digest: str
    ) -> Callable[[Connection], OutboxEntry]:
        def write(conn: Connection) -> OutboxEntry:
            found = conn.execute(_STATUS_ROW, {"b_digest": digest}).first()
            if found is not None:
                return self._entry(conn, found)
            created = self._insert_pending(
                conn,
                PackageKind.STATUS,
                answers,
                digest,
                data,
                answers=answers,
                status_code=status_code,
            )
            # The entry as it was written (not read back: it was just written).
            return OutboxEntry(
                document_id=answers,
                kind=PackageKind.STATUS,
                digest=digest,
                data=data,
                recipients=(),
                state=OutboxState.PENDING,
                created_at=created,
                submitted_at=None,
                submit_count=0,
                arrived=frozenset(),
                answers=answers,
                status_code=status_code,
            )

        return write

    def mark_submitted(self, kind: PackageKind, document_id: str, digest: str) -> None:
        """The broker acknowledged (acks=all) one submission of these bytes."""
        self.database.write(self._submitted_writer(kind, document_id, digest))

    async def note_submitted(self, kind: PackageKind, document_id: str, digest: str) -> None:
        """:meth:`mark_submitted`, committed together with concurrent writes (one fsync)."""
        await self.group_commit.write(self._submitted_writer(kind, document_id, digest))

    def _submitted_writer(
        self, kind: PackageKind, document_id: str, digest: str
    ) -> Callable[[Connection], None]:
        now = self._clock()

        this = {"b_kind": kind.value, "b_doc": document_id, "b_digest": digest}

        def write(conn: Connection) -> None:
            conn.execute(_SUBMITTED, {**this, "b_now": now})
            if kind is PackageKind.STATUS:
                conn.execute(_STATUS_PUBLISHED, this)

        return write

    def record_status(
        self,
        document_id: str,
        recipient: str,
        status_code: str,
        description: str,
        digest: str,
        at: datetime | None = None,
    ) -> bool:
        """Record a recipient's status on a document this agency sent.

        Any status from a recipient proves the package arrived there (a 03 cannot
        come without the document), so it counts as that recipient's arrival even
        if its 01 was lost. Returns ``True`` when this status was new.
        """
        return self.database.write(
            self._recipient_status_writer(
                document_id, recipient, status_code, description, digest, at
            )
        )

    async def note_status(
        self,
        document_id: str,
        recipient: str,
        status_code: str,
        description: str,
        digest: str,
        at: datetime | None = None,
    ) -> bool:
        """:meth:`record_status`, committed together with concurrent writes (one fsync)."""
        return await self.group_commit.write(
            self._recipient_status_writer(
                document_id, recipient, status_code, description, digest, at
            )
        )

    def _recipient_status_writer(
        self,
        document_id: str,
        recipient: str,
        status_code: str,
        description: str,
        digest: str,
        at: datetime | None,
    ) -> Callable[[Connection], bool]:
        now = at or self._clock()

        this = {"b_doc": document_id, "b_recipient": recipient, "b_digest": digest}

        def write(conn: Connection) -> bool:
            if conn.execute(_STATUS_SEEN, this).first() is not None:
                return False
            conn.execute(
                _INSERT_STATUS,
                {
                    "document_id": document_id,
                    "recipient": recipient,
                    "status_code": status_code,
                    "description": description,
                    "digest": digest,
                    "at": now,
                },
            )
            conn.execute(_ARRIVED, {**this, "b_now": now})
            self._settle_if_delivered(conn, document_id)
            return True

        return write

    def republish_statuses(self, within: timedelta) -> int:
        """Publish again the statuses published in the last ``within``; how many.

        For a broker that lost its data: what it acknowledged may be gone with it
        (a 01 not yet routed, or one a restarted broker took for a duplicate of
        the producer's earlier records). Recipients and the router know the same
        bytes again; the re-submitter publishes them.
        """
        since = self._clock() - within
        with self.database.transaction() as conn:
            result = conn.execute(
                update(_packages)
                .where(
                    _packages.c.kind == PackageKind.STATUS,
                    _packages.c.state == OutboxState.PUBLISHED,
                    _packages.c.submitted_at >= since,
                )
                .values(state=OutboxState.PENDING, submitted_at=None)
            )
        return int(result.rowcount or 0)

    def mark_rejected(
        self, document_id: str, digest: str, reason_code: str, reason: str
    ) -> OutboxEntry | None:
        """The router refused these bytes: stop re-submitting them, keep the reason.

        Returns the entry refused, or ``None`` when the outbox holds no such bytes
        (a rejection of a package sent from elsewhere under this agency's name).
        """
        with self.database.transaction() as conn:
            query = select(_packages.c.kind, _packages.c.document_id).where(
                _packages.c.digest == digest
            )
            if document_id:
                query = query.where(_packages.c.document_id == document_id)
            row = conn.execute(query).first()
            if row is None:
                return None
            conn.execute(
                update(_packages)
                .where(_packages.c.digest == digest, _packages.c.document_id == row.document_id)
                .values(state=OutboxState.REJECTED, reason_code=reason_code, reason=reason)
            )
        if row.kind == PackageKind.STATUS:
            return self._get_status(digest)
        return self.get(row.document_id)

    def forget_settled(self, older_than: timedelta) -> int:
        """Drop delivered documents and published statuses created before ``older_than`` ago.

        Bounds the file at national volume. What is forgotten can no longer be
        taken back, revoked or reported on through this outbox (the tracker keeps
        the history); pending and rejected packages are always kept.
        """
        cutoff = self._clock() - older_than
        with self.database.transaction() as conn:
            settled = conn.execute(
                select(_packages.c.id, _packages.c.kind, _packages.c.document_id).where(
                    _packages.c.state.in_([OutboxState.DELIVERED, OutboxState.PUBLISHED]),
                    _packages.c.created_at < cutoff,
                )
            ).all()
            documents = [r.document_id for r in settled if r.kind == PackageKind.DOCUMENT]
            if documents:
                conn.execute(delete(_recipients).where(_recipients.c.document_id.in_(documents)))
                conn.execute(delete(_statuses).where(_statuses.c.document_id.in_(documents)))
            if settled:
                conn.execute(delete(_packages).where(_packages.c.id.in_([r.id for r in settled])))
        return len(settled)

    # --- reading -------------------------------------------------------------

    def get(self, document_id: str) -> OutboxEntry | None:
        """The document sent under this DocumentId, if this agency sent it."""
        with self.database.connection() as conn:
            row = conn.execute(_DOCUMENT_ROW, {"b_doc": document_id}).first()
            return None if row is None else self._entry(conn, row)

    def has_document(self, document_id: str) -> bool:
        """Whether this agency sent a document under this DocumentId (its bytes not read)."""
        with self.database.connection() as conn:
            return conn.execute(_DOCUMENT_DIGEST, {"b_doc": document_id}).first() is not None

    def arrival(self, answers: str) -> OutboxEntry | None:
        """The first 01 this agency kept for a document it received, if any."""
        with self.database.connection() as conn:
            row = conn.execute(_ARRIVAL_ROW, {"b_doc": answers}).first()
            return None if row is None else self._entry(conn, row)

    def due_for_resubmit(self, after: timedelta) -> list[OutboxEntry]:
        """Pending packages never published, or silent for longer than ``after``."""
        cutoff = self._clock() - after
        return self._oldest_first(
            _packages.c.state == OutboxState.PENDING,
            or_(
                _packages.c.submitted_at.is_(None),
                and_(_packages.c.kind == PackageKind.DOCUMENT, _packages.c.submitted_at <= cutoff),
            ),
        )

    def pending(self) -> list[OutboxEntry]:
        """Every package still waiting for an arrival (or for its first publication)."""
        return self._oldest_first(_packages.c.state == OutboxState.PENDING)

    def statuses(self, document_id: str) -> list[RecipientStatus]:
        """Every status the recipients reported on a document, oldest first."""
        with self.database.connection() as conn:
            rows = conn.execute(
                select(_statuses)
                .where(_statuses.c.document_id == document_id)
                .order_by(_statuses.c.id)
            ).all()
        return [RecipientStatus(r.recipient, r.status_code, r.description, r.at) for r in rows]

    def sent_statuses(self, answers: str) -> list[OutboxEntry]:
        """The status packages this agency sent on a document, oldest first."""
        return self._oldest_first(
            _packages.c.kind == PackageKind.STATUS, _packages.c.answers == answers
        )

    # --- internals -----------------------------------------------------------

    def _get_status(self, digest: str) -> OutboxEntry | None:
        return self._first(_packages.c.kind == PackageKind.STATUS, _packages.c.digest == digest)

    def _first(self, *where: ColumnElement[bool]) -> OutboxEntry | None:
        with self.database.connection() as conn:
            row = conn.execute(select(_packages).where(*where)).first()
            return None if row is None else self._entry(conn, row)

    def _oldest_first(self, *where: ColumnElement[bool]) -> list[OutboxEntry]:
        with self.database.connection() as conn:
            rows = conn.execute(select(_packages).where(*where).order_by(_packages.c.id)).all()
            return [self._entry(conn, row) for row in rows]

    def _insert_pending(
        self,
        conn: Connection,
        kind: PackageKind,
        document_id: str,
        digest: str,
        data: bytes,
        *,
        answers: str | None = None,
        status_code: str | None = None,
    ) -> datetime:
        """A new package, pending its first publication (a status names what it answers);
        the time it was created at."""
        created = self._clock()
        conn.execute(
            _INSERT_PACKAGE,
            {
                "document_id": document_id,
                "kind": kind.value,
                "digest": digest,
                "data": data,
                "state": OutboxState.PENDING.value,
                "created_at": created,
                "submit_count": 0,
                "answers": answers,
                "status_code": status_code,
            },
        )
        return created

    @staticmethod
    def _settle_if_delivered(conn: Connection, document_id: str) -> None:
        if conn.execute(_MISSING, {"b_doc": document_id}).first() is None:
            conn.execute(_DELIVERED, {"b_doc": document_id})

    @staticmethod
    def _entry(conn: Connection, row: Row[Any, Any]) -> OutboxEntry:
        recipients: Sequence[Row[Any, Any]] = ()
        if row.kind == PackageKind.DOCUMENT:
            recipients = conn.execute(_RECIPIENTS_OF, {"b_doc": row.document_id}).all()
        return OutboxEntry(
            document_id=row.document_id,
            kind=PackageKind(row.kind),
            digest=row.digest,
            data=row.data,
            recipients=tuple(x.recipient for x in recipients),
            state=OutboxState(row.state),
            created_at=row.created_at,
            submitted_at=row.submitted_at,
            submit_count=row.submit_count,
            arrived=frozenset(x.recipient for x in recipients if x.arrived_at is not None),
            reason_code=row.reason_code,
            reason=row.reason,
            answers=row.answers,
            status_code=row.status_code,
        )
