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
PostgreSQL when routers run on several machines, opened through the one SQL
foundation (:mod:`bus.sql`). The schema is under Alembic (``bus/acceptance_migrations``,
version table ``acceptance_alembic_version``): opening the store migrates it, and a
store created before it had migrations is adopted as it is. The calls are
synchronous and short; the router runs them in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Self

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from bus.errors import DatabaseError, ReplayError
from bus.sql import Adoption, UtcDateTime, create_store_engine, database_errors, run_migrations

__all__ = [
    "ADOPTION",
    "DEFAULT_HORIZON",
    "VERSION_TABLE",
    "AcceptanceSession",
    "AcceptanceStore",
    "Accepted",
    "Delivery",
    "metadata",
    "status_key",
    "upgrade",
]

#: How long accepted packages are remembered.
DEFAULT_HORIZON = timedelta(days=730)

#: The store's tables; ``bus/acceptance_migrations`` creates exactly these.
metadata = MetaData()

#: The store's own Alembic version table (it may share a database with other schemas).
VERSION_TABLE = "acceptance_alembic_version"

# An arbitrary, fixed key for pg_advisory_xact_lock: "edx acceptance migrations".
_ADVISORY_LOCK_KEY = 0x6564785F616363
_MIGRATIONS = resources.files("bus") / "acceptance_migrations"


def _package_key() -> tuple[Column[str], ...]:
    """The columns that name a package: its sender and key (see :func:`status_key`)."""
    return (
        Column("sender", String(64), primary_key=True),
        Column("doc_key", String(512), primary_key=True),
    )


accepted_table = Table(
    "router_accepted",
    metadata,
    *_package_key(),
    Column("digest", String(64), nullable=False),
    Column("recipients", Text, nullable=False),  # JSON list of agency codes
    Column("accepted_at", UtcDateTime, nullable=False, index=True),
)
#: Finds a re-submission by its bytes alone, before any signature is verified again.
_digest_index = Index("ix_router_accepted_digest", accepted_table.c.digest)

delivered_table = Table(
    "router_delivered",
    metadata,
    *_package_key(),
    Column("recipient", String(64), primary_key=True),
    Column("delivered_at", UtcDateTime, nullable=False),
    # Where the copy landed in the recipient's inbox: a broker that lost its data
    # (the embedded Tansu keeps memory only) is recognised by an inbox that ends
    # before this offset, and the copy is written again on the sender's retry.
    Column("inbox_partition", Integer, nullable=True),
    Column("inbox_offset", BigInteger, nullable=True),
)


def _complete_unversioned(connection: Connection) -> None:
    """Bring a store made before migrations to revision ``acceptance0001``.

    Such a store was made by ``create_all`` with both tables; the oldest lack the
    digest index, added here. Nothing is dropped or rewritten.
    """
    _digest_index.create(connection, checkfirst=True)


#: How a store created before it had migrations is taken over: as it is, at 0001.
ADOPTION = Adoption(
    revision="acceptance0001",
    tables=(accepted_table.name, delivered_table.name),
    prepare=_complete_unversioned,
)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the acceptance store in ``engine``'s database to ``revision``."""
    with database_errors("router store (migrating)"):
        run_migrations(engine, _MIGRATIONS, revision, advisory_key=_ADVISORY_LOCK_KEY)


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
        """Connect and bring the schema to the newest revision (adopting an older store)."""
        if self._engine is not None:
            return
        engine = create_store_engine(self.url)
        try:
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine

    def close(self) -> None:
        """Release the connections."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
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
        with self._connection("reading") as conn:
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
        with self._connection("using") as conn:
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
        with self._connection("writing") as conn:
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
        with self._connection("pruning") as conn:
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
        with self._connection("reading") as conn:
            return int(conn.execute(select(func.count()).select_from(accepted_table)).scalar_one())

    # --- plumbing -----------------------------------------------------------------

    @contextmanager
    def _connection(self, action: str) -> Iterator[Connection]:
        if self._engine is None:
            raise DatabaseError("the router store is not open")
        with database_errors(f"router store ({action})"), self._engine.begin() as conn:
            yield conn


class AcceptanceSession:
    """Lookups and accepts inside one transaction of the store.

    A router's batch names its keys up front (:meth:`preload`): what is
    remembered under all of them is read in two queries, and the lookups and
    accepts of those keys then ask the database only to insert what is new. What
    this session accepts is known to its later lookups, so a batch meets the
    store as its packages would one after the other.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        #: (sender, key) -> what is remembered (None: nothing), read or accepted here.
        self._known: dict[tuple[str, str], Accepted | None] = {}

    def preload(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read what is remembered under each (sender, key), a few queries in all."""
        wanted = sorted(set(keys) - self._known.keys())
        for start in range(0, len(wanted), _PRELOAD_CHUNK):
            chunk = wanted[start : start + _PRELOAD_CHUNK]
            found = _read_many(self._conn, chunk)
            for identity in chunk:
                self._known[identity] = found.get(identity)

    def lookup(self, sender: str, key: str) -> Accepted | None:
        """What was accepted from ``sender`` under ``key`` (this transaction included)."""
        if (sender, key) in self._known:
            return self._known[(sender, key)]
        return _read(self._conn, sender, key)

    def accept(
        self, sender: str, key: str, digest: str, recipients: Iterable[str], *, now: datetime
    ) -> Accepted:
        """Remember a package, or return what is remembered (ReplayError for other bytes)."""
        conn = self._conn
        recipients = tuple(dict.fromkeys(recipients))
        existing = self.lookup(sender, key)
        if existing is None:
            row = {
                "sender": sender,
                "doc_key": key,
                "digest": digest,
                "recipients": json.dumps(recipients),
                "accepted_at": now,
            }
            if _insert_if_absent(conn, row):
                accepted = Accepted(sender, key, digest, recipients, frozenset(), now)
                self._known[(sender, key)] = accepted
                return accepted
            existing = _read(conn, sender, key)  # another router was faster
            self._known[(sender, key)] = existing
        assert existing is not None
        if existing.digest != digest:
            raise ReplayError(key, sender)
        return existing


#: (sender, key) pairs read per query by :meth:`AcceptanceSession.preload`.
_PRELOAD_CHUNK = 250


def _insert_if_absent(conn: Connection, row: Mapping[str, object]) -> bool:
    """Insert a package's row unless its (sender, key) is taken; whether it was inserted.

    ``INSERT ... ON CONFLICT DO NOTHING`` where the database has it (SQLite,
    PostgreSQL: one statement, the transaction unharmed by a conflict), else an
    insert in a savepoint.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        statement = sqlite_insert(accepted_table).values(**row).on_conflict_do_nothing()
        return bool(conn.execute(statement).rowcount == 1)
    if dialect == "postgresql":
        upsert = postgresql_insert(accepted_table).values(**row).on_conflict_do_nothing()
        return bool(conn.execute(upsert).rowcount == 1)
    try:
        with conn.begin_nested():
            conn.execute(insert(accepted_table).values(**row))
    except sa_exc.IntegrityError:
        return False
    return True


def _read_many(
    conn: Connection, identities: list[tuple[str, str]]
) -> dict[tuple[str, str], Accepted]:
    """What is remembered under each of these (sender, key) pairs (those found)."""
    package = tuple_(accepted_table.c.sender, accepted_table.c.doc_key)
    rows = conn.execute(select(accepted_table).where(package.in_(identities))).all()
    if not rows:
        return {}
    copies = tuple_(delivered_table.c.sender, delivered_table.c.doc_key)
    delivered = conn.execute(
        select(
            delivered_table.c.sender,
            delivered_table.c.doc_key,
            delivered_table.c.recipient,
            delivered_table.c.inbox_partition,
            delivered_table.c.inbox_offset,
        ).where(copies.in_(identities))
    ).all()
    by_package: dict[tuple[str, str], list[tuple[str, int | None, int | None]]] = {}
    for sender, key, recipient, partition, offset in delivered:
        by_package.setdefault((sender, key), []).append((recipient, partition, offset))
    return {
        (row.sender, row.doc_key): _accepted(row, by_package.get((row.sender, row.doc_key), []))
        for row in rows
    }


def _accepted(row: Any, copies: Iterable[tuple[str, int | None, int | None]]) -> Accepted:
    """An :class:`Accepted` from its row and its delivered copies' rows."""
    copies = list(copies)
    return Accepted(
        sender=row.sender,
        key=row.doc_key,
        digest=row.digest,
        recipients=tuple(json.loads(row.recipients)),
        delivered=frozenset(c[0] for c in copies),
        accepted_at=row.accepted_at,
        positions={
            c[0]: (int(c[1]), int(c[2])) for c in copies if c[1] is not None and c[2] is not None
        },
    )


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
    return _accepted(row, [(r[0], r[1], r[2]) for r in rows])
