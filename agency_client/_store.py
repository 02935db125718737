"""The local SQLite file behind the outbox and the inbox store.

Both stores live in one file per agency (``settings.outbox_path(agency)``) so that
a backup of that one file keeps everything the client must not lose. The file is
opened through the bus's one SQL foundation (WAL, foreign keys, busy timeout) as a
*durable* store (``synchronous=FULL``): a package written to the outbox survives a
crash or power loss the moment ``add`` returns.

A :class:`LocalDatabase` is the file: its engine, its schema (Alembic migrations
under ``agency_client/migrations``, version table ``agency_alembic_version``, run
when the file is opened), its error translation (:class:`OutboxError` naming the
file) and its :class:`GroupCommit`. The stores use one; they are given it, or open
and own their own. A file written before the schema had migrations is adopted as
it is (revision ``agency0001``), then migrated: timestamps, once epoch seconds,
become the foundation's :class:`~bus.UtcDateTime`, read back to the microsecond.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Self, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from agency_client._group_commit import GroupCommit
from agency_client.errors import OutboxError
from bus import Adoption, create_store_engine, database_errors, run_migrations
from bus.errors import DatabaseError

__all__ = [
    "ADOPTION",
    "LEGACY_METADATA",
    "METADATA",
    "VERSION_TABLE",
    "Clock",
    "LocalDatabase",
    "StoreFile",
    "utc_now",
]

T = TypeVar("T")

Clock = Callable[[], datetime]

#: The tables of the local file (the outbox's and the inbox store's define theirs in it).
METADATA = MetaData()

#: The schema's own Alembic version table.
VERSION_TABLE = "agency_alembic_version"

# An arbitrary, fixed key (advisory locks are PostgreSQL's; the file is SQLite).
_ADVISORY_LOCK_KEY = 0x6564785F616763
_MIGRATIONS = resources.files("agency_client") / "migrations"


def utc_now() -> datetime:
    """The wall clock, UTC-aware (the default clock of the stores and the client)."""
    return datetime.now(UTC)


def _legacy_metadata() -> MetaData:
    """The tables exactly as the stores created them before migrations (frozen).

    Revision ``agency0001`` creates these; a file written then holds some or all
    of them. Timestamps were epoch seconds (``FLOAT``).
    """
    legacy = MetaData()
    Table(
        "outbox_packages",
        legacy,
        Column("id", Integer, primary_key=True),
        Column("document_id", String, nullable=False),
        Column("kind", String, nullable=False),
        Column("digest", String(64), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("state", String, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("submitted_at", Float, nullable=True),
        Column("submit_count", Integer, nullable=False),
        Column("reason_code", String, nullable=True),
        Column("reason", Text, nullable=True),
        Column("answers", String, nullable=True),
        Column("status_code", String(2), nullable=True),
        UniqueConstraint("kind", "document_id", "digest", name="uq_outbox_package"),
    )
    Table(
        "outbox_recipients",
        legacy,
        Column("document_id", String, primary_key=True),
        Column("recipient", String, primary_key=True),
        Column("arrived_at", Float, nullable=True),
    )
    Table(
        "outbox_statuses",
        legacy,
        Column("id", Integer, primary_key=True),
        Column("document_id", String, nullable=False),
        Column("recipient", String, nullable=False),
        Column("status_code", String(2), nullable=False),
        Column("description", Text, nullable=False),
        Column("digest", String(64), nullable=False),
        Column("at", Float, nullable=False),
        UniqueConstraint("document_id", "recipient", "digest", name="uq_outbox_status"),
    )
    Table(
        "inbox_taken",
        legacy,
        Column("id", Integer, primary_key=True),
        Column("kind", String, nullable=False),
        Column("sender", String, nullable=False),
        Column("document_id", String, nullable=False),
        Column("digest", String(64), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("taken_at", Float, nullable=False),
        Column("code", String, nullable=False),
        Column("promulgation_date", Date, nullable=True),
        Column("status_code", String(2), nullable=True),
        UniqueConstraint("kind", "sender", "document_id", "digest", name="uq_inbox_taken"),
    )
    Table(
        "inbox_quarantine",
        legacy,
        Column("id", Integer, primary_key=True),
        Column("source", String, nullable=False),
        Column("sender", String, nullable=False),
        Column("document_id", String, nullable=False),
        Column("reason_code", String, nullable=False),
        Column("reason", Text, nullable=False),
        Column("digest", String(64), nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("at", Float, nullable=False),
        UniqueConstraint("source", "digest", name="uq_inbox_quarantine"),
    )
    return legacy


#: Revision ``agency0001``: the local file's tables before it had migrations.
LEGACY_METADATA = _legacy_metadata()


def _complete_legacy(connection: Connection) -> None:
    # An outbox opened alone never created the inbox store's tables: add what is missing.
    LEGACY_METADATA.create_all(connection, checkfirst=True)


#: How a file written before the schema had migrations is taken over: as it is, at 0001.
ADOPTION = Adoption(
    revision="agency0001", tables=tuple(LEGACY_METADATA.tables), prepare=_complete_legacy
)


class LocalDatabase:
    """One agency's local SQLite file: engine, schema, errors and group commit.

    Every call is one short local transaction; driver errors surface as
    :class:`OutboxError` naming the file. The ``async`` writes go through
    :attr:`group_commit`: concurrent callers share one transaction (one fsync).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._what = f"local store {path}"
        try:
            self._engine = create_store_engine(f"sqlite:///{path}", durable=True)
        except DatabaseError as exc:
            raise OutboxError(f"cannot open the local store {path}: {exc}") from exc
        try:
            with self._errors():
                run_migrations(self._engine, _MIGRATIONS, "head", advisory_key=_ADVISORY_LOCK_KEY)
        except BaseException:
            self._engine.dispose()
            raise
        #: Stores on this file share it: a dedup record and the 01 it calls for go
        #: to the disk in one commit.
        self.group_commit = GroupCommit(self.transaction)

    def close(self) -> None:
        """Release the file."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[Connection]:
        """One transaction, committed when the block ends."""
        return self._guarded(self._engine.begin)

    def write(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` in a transaction of its own; its result once committed.

        The synchronous twin of :meth:`GroupCommit.write`: the same writes go
        through either.
        """
        with self.transaction() as conn:
            return write(conn)

    def connection(self) -> AbstractContextManager[Connection]:
        """A connection for reads."""
        return self._guarded(self._engine.connect)

    def _errors(self) -> AbstractContextManager[None]:
        return database_errors(self._what, error=OutboxError, unavailable=OutboxError)

    @contextmanager
    def _guarded(
        self, opener: Callable[[], AbstractContextManager[Connection]]
    ) -> Iterator[Connection]:
        with self._errors(), opener() as conn:
            yield conn


@dataclass(frozen=True)
class StoreFile:
    """A store's hold on the local file: opened by the store and closed with it, or
    given by whoever opened it (who closes it), so stores can share one file."""

    database: LocalDatabase
    owned: bool

    @classmethod
    def hold(cls, path: Path, database: LocalDatabase | None) -> StoreFile:
        """The ``database`` given, else the file at ``path``, opened and owned."""
        if database is None:
            return cls(LocalDatabase(path), owned=True)
        return cls(database, owned=False)

    def close(self) -> None:
        """Release the file, when the store opened it."""
        if self.owned:
            self.database.close()
