"""The local SQLite file behind the outbox and the inbox store.

Both stores live in one file per agency (``settings.outbox_path(agency)``) so that
a backup of that one file keeps everything the client must not lose. SQLite runs
in WAL mode with ``synchronous=FULL``: a package written to the outbox survives a
crash or power loss the moment ``add`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Float, MetaData, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from agency_client._group_commit import GroupCommit
from agency_client.errors import OutboxError

T = TypeVar("T")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, UTC-aware (the default clock of the stores and the client)."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC epoch seconds: SQLite keeps no zones."""

    impl = Float
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> float | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        return value.timestamp()

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(float(value), UTC)


def open_engine(path: Path, metadata: MetaData) -> Engine:
    """An engine on the agency's SQLite file, with ``metadata``'s tables created if new."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{path}")

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        metadata.create_all(engine)
    except (OSError, SQLAlchemyError) as exc:
        raise OutboxError(f"cannot open the local store {path}: {exc}") from exc
    return engine


@contextmanager
def guarded(
    path: Path, opener: Callable[[], AbstractContextManager[Connection]]
) -> Iterator[Connection]:
    """A connection (or transaction) whose driver errors become :class:`OutboxError`."""
    try:
        with opener() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise OutboxError(f"local store {path}: {exc}") from exc


class LocalStore:
    """Base of the outbox and the inbox store: one agency's SQLite file and its lifecycle.

    Every call is one short local transaction; driver errors surface as
    :class:`OutboxError` naming the file. The ``async`` writes go through a
    :class:`GroupCommit`: concurrent callers share one transaction (one fsync).
    """

    def __init__(
        self,
        path: Path,
        metadata: MetaData,
        *,
        clock: Clock = utc_now,
        group_commit: GroupCommit | None = None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._engine = open_engine(path, metadata)
        # Stores on the same file may share one (the inbox store shares the outbox's,
        # so a dedup record and the 01 it calls for go to the disk in one commit).
        self.group_commit = group_commit or GroupCommit(self._transaction)

    def close(self) -> None:
        """Release the file."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _transaction(self) -> AbstractContextManager[Connection]:
        return guarded(self.path, self._engine.begin)

    async def _write_together(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` in a group-committed transaction; its result once on disk."""
        return await self.group_commit.write(write)

    def _connection(self) -> AbstractContextManager[Connection]:
        return guarded(self.path, self._engine.connect)
