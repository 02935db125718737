"""The router's memory of accepted packages (DESIGN.md §4).

Why a store: the router must tell a retry (the same bytes again: deliver only to
recipients that do not have them yet) from a replay (other bytes under a
DocumentId already accepted from that sender: refuse), and it must remember this
across its own restarts and across the routers of one consumer group. It must
also know, years of traffic later, who the recipients of a document were, to
decide who may send status packages about it.

What it keeps, per (sender, key) where the key is the DocumentId (or
``status:<digest>`` for a status package): the SHA-256 of the bytes accepted, the
declared recipients, when it was accepted; and per recipient, that the inbox
write was acknowledged. Rows older than ``horizon`` are pruned, which bounds the
store at national volume (tens of millions of rows a year, ~200 bytes each);
a replay of a document older than the horizon is no longer recognised.

SQLAlchemy, so SQLite by default (``settings.resolved_router_db_url``) and
PostgreSQL when routers run on several machines. The calls are synchronous and
short; the router runs them in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url

from bus.errors import DatabaseError, DatabaseUnavailableError, ReplayError

__all__ = [
    "DEFAULT_HORIZON",
    "AcceptanceSession",
    "AcceptanceStore",
    "Accepted",
    "Delivery",
    "status_key",
]

#: How long accepted packages are remembered.
DEFAULT_HORIZON = timedelta(days=730)

_metadata = MetaData()

accepted_table = Table(
    "router_accepted",
    _metadata,
    Column("sender", String(64), primary_key=True),
    Column("doc_key", String(512), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("recipients", Text, nullable=False),  # JSON list of agency codes
    Column("accepted_at", DateTime(timezone=True), nullable=False, index=True),
)
#: Finds a re-submission by its bytes alone, before any signature is verified again.
_digest_index = Index("ix_router_accepted_digest", accepted_table.c.digest)

delivered_table = Table(
    "router_delivered",
    _metadata,
    Column("sender", String(64), primary_key=True),
    Column("doc_key", String(512), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("delivered_at", DateTime(timezone=True), nullable=False),
    # Where the copy landed in the recipient's inbox: a broker that lost its data
    # (the embedded Tansu keeps memory only) is recognised by an inbox that ends
    # before this offset, and the copy is written again on the sender's retry.
    Column("inbox_partition", Integer, nullable=True),
    Column("inbox_offset", BigInteger, nullable=True),
)


def status_key(digest: str) -> str:
    """The acceptance key of a status package: its content digest."""
    return f"status:{digest}"


@dataclass(frozen=True)
class Delivery:
    """One acknowledged inbox write: who got which package, and where it landed."""

    sender: str
    key: str
    recipient: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Accepted:
    """What the router accepted from one sender under one key."""

    sender: str
    key: str
    digest: str
    recipients: tuple[str, ...]
    delivered: frozenset[str]
    accepted_at: datetime
    #: recipient -> (inbox partition, offset) of its copy, where known.
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def undelivered(self) -> tuple[str, ...]:
        """Recipients whose inbox write has not been acknowledged yet."""
        return tuple(r for r in self.recipients if r not in self.delivered)


class AcceptanceStore:
    """The router's accepted-package store at one SQLAlchemy URL."""

    def __init__(self, url: str, *, horizon: timedelta = DEFAULT_HORIZON) -> None:
        self.url = url
        self.horizon = horizon
        self._engine: Engine | None = None

    # --- lifecycle ------------------------------------------------------------

    def open(self) -> None:
        """Connect and create the tables if they are missing."""
        if self._engine is not None:
            return
        url = make_url(self.url)
        connect_args: dict[str, object] = {}
        if url.get_backend_name() == "sqlite":
            connect_args["check_same_thread"] = False  # used from one worker thread at a time
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        with self._translated("opening the router store"):
            engine = create_engine(url, connect_args=connect_args)
            if url.get_backend_name() == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            _metadata.create_all(engine)
            _create_digest_index(engine)
        self._engine = engine

    def close(self) -> None:
        """Release the connections."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- queries ----------------------------------------------------------------

    def lookup(self, sender: str, key: str) -> Accepted | None:
        """What was accepted from ``sender`` under ``key``, or None."""
        with self.session() as session:
            return session.lookup(sender, key)

    def by_digests(self, digests: Iterable[str]) -> dict[str, Accepted]:
        """What was accepted with each of these content digests (those found).

        The same bytes were verified and accepted before: a re-submission found
        here needs no second verification (DESIGN.md §4, cheap retries).
        """
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        with self._connection("reading the router store") as conn:
            rows = conn.execute(
                select(accepted_table.c.sender, accepted_table.c.doc_key).where(
                    accepted_table.c.digest.in_(wanted)
                )
            ).all()
            found = {}
            for sender, key in rows:
                accepted = _read(conn, sender, key)
                if accepted is not None:
                    found[accepted.digest] = accepted
            return found

    def accept(
        self, sender: str, key: str, digest: str, recipients: Iterable[str], *, now: datetime
    ) -> Accepted:
        """Remember a package, or return what is remembered when it is a retry.

        Raises :class:`ReplayError` when other bytes were accepted under this key.
        """
        with self.session() as session:
            return session.accept(sender, key, digest, recipients, now=now)

    @contextmanager
    def session(self) -> Iterator[AcceptanceSession]:
        """One transaction for many lookups and accepts (a router's batch).

        Committed when the block ends; rolled back if it raises. A refusal
        (:class:`ReplayError`) raised by :meth:`AcceptanceSession.accept` undoes
        nothing else, so callers may catch it per package and go on.
        """
        with self._connection("using the router store") as conn:
            yield AcceptanceSession(conn)

    def mark_delivered(
        self, deliveries: Iterable[Delivery | tuple[str, str, str]], *, now: datetime
    ) -> None:
        """Record acknowledged inbox writes (a copy written again moves its position)."""
        latest: dict[tuple[str, str, str], Delivery] = {}
        for item in deliveries:
            delivery = item if isinstance(item, Delivery) else Delivery(*item)
            latest[(delivery.sender, delivery.key, delivery.recipient)] = delivery
        if not latest:
            return
        columns = delivered_table.c
        with self._connection("writing the router store") as conn:
            already = conn.execute(
                select(columns.sender, columns.doc_key, columns.recipient).where(
                    tuple_(columns.sender, columns.doc_key, columns.recipient).in_(list(latest))
                )
            )
            present = {(row[0], row[1], row[2]) for row in already}
            new = [
                {
                    "sender": d.sender,
                    "doc_key": d.key,
                    "recipient": d.recipient,
                    "delivered_at": now,
                    "inbox_partition": d.partition,
                    "inbox_offset": d.offset,
                }
                for identity, d in latest.items()
                if identity not in present
            ]
            if new:
                conn.execute(insert(delivered_table), new)
            for identity in present:
                moved = latest[identity]
                if moved.offset is None:
                    continue
                conn.execute(
                    update(delivered_table)
                    .where(
                        and_(
                            columns.sender == moved.sender,
                            columns.doc_key == moved.key,
                            columns.recipient == moved.recipient,
                        )
                    )
                    .values(
                        delivered_at=now,
                        inbox_partition=moved.partition,
                        inbox_offset=moved.offset,
                    )
                )

    def prune(self, *, now: datetime) -> int:
        """Forget packages accepted before ``now - horizon``; returns how many."""
        cutoff = now - self.horizon
        with self._connection("pruning the router store") as conn:
            old = select(accepted_table.c.sender, accepted_table.c.doc_key).where(
                accepted_table.c.accepted_at < cutoff
            )
            conn.execute(
                delete(delivered_table).where(
                    tuple_(delivered_table.c.sender, delivered_table.c.doc_key).in_(old)
                )
            )
            result = conn.execute(
                delete(accepted_table).where(accepted_table.c.accepted_at < cutoff)
            )
            return int(result.rowcount or 0)

    def count(self) -> int:
        """How many packages are remembered."""
        with self._connection("reading the router store") as conn:
            return int(conn.execute(select(func.count()).select_from(accepted_table)).scalar_one())

    # --- plumbing -----------------------------------------------------------------

    @contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        if self._engine is None:
            raise DatabaseError("the router store is not open")
        with self._translated(action), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseUnavailableError(
                f"router store unavailable while {action}: {exc.orig}"
            ) from exc
        except sa_exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise DatabaseError(f"router store failed while {action}: {exc}") from exc
            # The connection died under the statement (a cut, a server restart).
            raise DatabaseUnavailableError(
                f"router store unavailable while {action}: {exc.orig}"
            ) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise DatabaseError(f"router store failed while {action}: {exc}") from exc


class AcceptanceSession:
    """Lookups and accepts inside one transaction of the store."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lookup(self, sender: str, key: str) -> Accepted | None:
        """What was accepted from ``sender`` under ``key`` (this transaction included)."""
        return _read(self._conn, sender, key)

    def accept(
        self, sender: str, key: str, digest: str, recipients: Iterable[str], *, now: datetime
    ) -> Accepted:
        """Remember a package, or return what is remembered (ReplayError for other bytes)."""
        conn = self._conn
        recipients = tuple(dict.fromkeys(recipients))
        existing = _read(conn, sender, key)
        if existing is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(accepted_table).values(
                            sender=sender,
                            doc_key=key,
                            digest=digest,
                            recipients=json.dumps(recipients),
                            accepted_at=now,
                        )
                    )
            except sa_exc.IntegrityError:
                existing = _read(conn, sender, key)  # another router was faster
            else:
                return Accepted(sender, key, digest, recipients, frozenset(), now)
        assert existing is not None
        if existing.digest != digest:
            raise ReplayError(key, sender)
        return existing


def _create_digest_index(engine: Engine) -> None:
    """Add the digest index to a store made before it existed (once; routers that
    start together may race to it, and the loser finds it made)."""
    try:
        _digest_index.create(engine, checkfirst=True)
    except sa_exc.SQLAlchemyError:
        names = {ix["name"] for ix in inspect(engine).get_indexes(accepted_table.name)}
        if _digest_index.name not in names:
            raise


def _read(conn: Connection, sender: str, key: str) -> Accepted | None:
    row = conn.execute(
        select(accepted_table).where(
            and_(accepted_table.c.sender == sender, accepted_table.c.doc_key == key)
        )
    ).one_or_none()
    if row is None:
        return None
    rows = conn.execute(
        select(
            delivered_table.c.recipient,
            delivered_table.c.inbox_partition,
            delivered_table.c.inbox_offset,
        ).where(and_(delivered_table.c.sender == sender, delivered_table.c.doc_key == key))
    ).all()
    delivered = [r[0] for r in rows]
    positions = {
        r[0]: (int(r[1]), int(r[2])) for r in rows if r[1] is not None and r[2] is not None
    }
    accepted_at = row.accepted_at
    if accepted_at.tzinfo is None:  # SQLite hands back naive datetimes
        accepted_at = accepted_at.replace(tzinfo=UTC)
    return Accepted(
        sender=sender,
        key=key,
        digest=row.digest,
        recipients=tuple(json.loads(row.recipients)),
        delivered=frozenset(delivered),
        accepted_at=accepted_at,
        positions=positions,
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
