"""What an agency has taken from its inbox: the deduplication memory (DESIGN.md §6).

A package is recorded here in the same step in which the application is deemed
to have taken it, before status 01 goes out and before the offset is committed.
So after any crash the inbox is read again from the last committed offset, and
every package recorded here is skipped (its 01 is sent again, in case the first
one was lost): the application sees each package exactly once.

Identity is ``(kind, sender, DocumentId, digest)``: the same bytes delivered twice
(a re-submission, a router retry, a replayed partition) are one package.

Packages that fail verification on arrival are never handed over, and never
dropped either: they are kept in the quarantine with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Self

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
)

from agency_client._group_commit import GroupCommit
from agency_client._store import METADATA, Clock, LocalDatabase, StoreFile, utc_now
from bus import UtcDateTime

__all__ = ["InboxStore", "QuarantinedPackage", "TakenPackage"]


@dataclass(frozen=True)
class TakenPackage:
    """A package the application has taken, as the store remembers it."""

    kind: str  # "document" or "status"
    sender: str
    document_id: str  # a status: the DocumentId it answers
    digest: str
    data: bytes
    taken_at: datetime
    # Documents: what a status answering them must name (ResponseFor).
    code: str = ""
    promulgation_date: date | None = None
    # Statuses: the code reported.
    status_code: str | None = None


@dataclass(frozen=True)
class QuarantinedPackage:
    """A record from the inbox that was not handed to the application, and why."""

    source: str
    sender: str
    document_id: str
    reason_code: str
    reason: str
    data: bytes
    at: datetime


_taken = Table(
    "inbox_taken",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("sender", String, nullable=False),
    Column("document_id", String, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("taken_at", UtcDateTime, nullable=False),
    Column("code", String, nullable=False, default=""),
    Column("promulgation_date", Date, nullable=True),
    Column("status_code", String(2), nullable=True),
    UniqueConstraint("kind", "sender", "document_id", "digest", name="uq_inbox_taken"),
)

_quarantine = Table(
    "inbox_quarantine",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("source", String, nullable=False),
    Column("sender", String, nullable=False),
    Column("document_id", String, nullable=False),
    Column("reason_code", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # A broker that lost its data reuses offsets: the source alone is not an identity.
    UniqueConstraint("source", "digest", name="uq_inbox_quarantine"),
)


#: The columns of ``inbox_taken`` that a :class:`TakenPackage` holds, in its field order.
_TAKEN_FIELDS = tuple(_taken.c[f.name] for f in fields(TakenPackage))


# Built once: building a statement costs more than the local lookup it runs.
_IS_TAKEN = select(_taken.c.id).where(
    _taken.c.kind == bindparam("b_kind"),
    _taken.c.sender == bindparam("b_sender"),
    _taken.c.document_id == bindparam("b_doc"),
    _taken.c.digest == bindparam("b_digest"),
)
_INSERT_TAKEN = insert(_taken)


def _remember(conn: Connection, taken: TakenPackage) -> bool:
    """Insert ``taken`` unless exactly these bytes are remembered already."""
    if _is_taken(conn, taken.kind, taken.sender, taken.document_id, taken.digest):
        return False
    conn.execute(_INSERT_TAKEN, {f.name: getattr(taken, f.name) for f in fields(TakenPackage)})
    return True


def _is_taken(conn: Connection, kind: str, sender: str, document_id: str, digest: str) -> bool:
    this = {"b_kind": kind, "b_sender": sender, "b_doc": document_id, "b_digest": digest}
    return conn.execute(_IS_TAKEN, this).first() is not None


class InboxStore:
    """One agency's memory of taken and quarantined packages, in its local SQLite file.

    The file is a :class:`LocalDatabase`: given as ``database`` (the outbox's), or
    opened at ``path`` and owned. Its ``async`` writes go through ``group_commit``
    when given (the outbox's: a dedup record and the 01 it calls for reach the disk
    in one commit), else through the file's own.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utc_now,
        group_commit: GroupCommit | None = None,
        database: LocalDatabase | None = None,
    ) -> None:
        self._file = StoreFile.hold(path, database)
        self.database = self._file.database
        self.path = self.database.path
        self._clock = clock
        self.group_commit = group_commit or self.database.group_commit

    def close(self) -> None:
        """Release the file, when the store opened it."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def has_taken(self, kind: str, sender: str, document_id: str, digest: str) -> bool:
        """Whether exactly these bytes were already handed to the application."""
        with self.database.connection() as conn:
            return _is_taken(conn, kind, sender, document_id, digest)

    def record_taken(
        self,
        kind: str,
        sender: str,
        document_id: str,
        digest: str,
        data: bytes,
        *,
        code: str = "",
        promulgation_date: date | None = None,
        status_code: str | None = None,
    ) -> bool:
        """Remember a package as taken; ``False`` when it was already remembered."""
        now = self._clock()
        taken = TakenPackage(
            kind, sender, document_id, digest, data, now, code, promulgation_date, status_code
        )
        return self.database.write(lambda conn: _remember(conn, taken))

    async def remember_taken(
        self,
        kind: str,
        sender: str,
        document_id: str,
        digest: str,
        data: bytes,
        *,
        code: str = "",
        promulgation_date: date | None = None,
        status_code: str | None = None,
    ) -> bool:
        """:meth:`record_taken`, committed together with concurrent writes (one fsync)."""
        now = self._clock()
        taken = TakenPackage(
            kind, sender, document_id, digest, data, now, code, promulgation_date, status_code
        )
        return await self.group_commit.write(lambda conn: _remember(conn, taken))

    def received_document(self, document_id: str) -> TakenPackage | None:
        """The document received under this DocumentId (the latest, if several)."""
        with self.database.connection() as conn:
            row = conn.execute(
                select(*_TAKEN_FIELDS)
                .where(_taken.c.kind == "document", _taken.c.document_id == document_id)
                .order_by(_taken.c.id.desc())
            ).first()
        return None if row is None else TakenPackage(*row)

    def taken_count(self, kind: str | None = None) -> int:
        """How many packages the application has taken (of one kind, or all)."""
        query = select(_taken.c.id)
        if kind is not None:
            query = query.where(_taken.c.kind == kind)
        with self.database.connection() as conn:
            return len(conn.execute(query).all())

    def quarantine(
        self,
        source: str,
        sender: str,
        document_id: str,
        reason_code: str,
        reason: str,
        data: bytes,
        digest: str,
    ) -> None:
        """Keep a record that failed verification, with why; idempotent per record."""
        with self.database.transaction() as conn:
            if conn.execute(
                select(_quarantine.c.id).where(
                    _quarantine.c.source == source, _quarantine.c.digest == digest
                )
            ).first():
                return
            conn.execute(
                insert(_quarantine).values(
                    source=source,
                    sender=sender,
                    document_id=document_id,
                    reason_code=reason_code,
                    reason=reason,
                    digest=digest,
                    data=data,
                    at=self._clock(),
                )
            )

    def quarantined(self) -> list[QuarantinedPackage]:
        """Every record kept back from the application, oldest first."""
        with self.database.connection() as conn:
            rows = conn.execute(select(_quarantine).order_by(_quarantine.c.id)).all()
        return [
            QuarantinedPackage(
                r.source, r.sender, r.document_id, r.reason_code, r.reason, r.data, r.at
            )
            for r in rows
        ]
