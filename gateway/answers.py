"""The answers the gateway gave to writes, kept for a while so a repeat gets the same one.

Why a time limit: office software repeats a write when it did not see the answer
(a timeout, a restart, the hub SDK's automatic resends), and it does so within
minutes or, after an outage, days. An answer kept for ever only grows the table:
one row per document and per status sent. Answers older than ``kept_for`` are
deleted as new ones are written (an index on ``created_at`` keeps that cheap), and
an expired answer is never returned. A request repeated after that is handled as
a new one and still never sends a document twice: the agency's outbox keeps one
copy per DocumentId and refuses a copy with other bytes (``ConflictError``).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from gateway._time import utc_now
from gateway.errors import ConflictError
from gateway.store.schema import IDEMPOTENCY

__all__ = ["DEFAULT_ANSWERS_KEPT_FOR", "KeptAnswers"]

#: How long an answer is kept: beyond any automatic retry, and a long weekend of
#: an office's outage.
DEFAULT_ANSWERS_KEPT_FOR = timedelta(days=7)


class KeptAnswers:
    """Answers by (system, scope, key), each bound to the fingerprint of its request."""

    def __init__(self, engine: Engine, kept_for: timedelta = DEFAULT_ANSWERS_KEPT_FOR) -> None:
        if kept_for <= timedelta(0):
            raise ValueError("answers must be kept for a positive time")
        self._engine = engine
        self.kept_for = kept_for

    def earlier(self, system_id: str, scope: str, key: str, fingerprint: str) -> str | None:
        """The answer given to an earlier request with this key, if still kept.

        Raises :class:`ConflictError` when the key was used for another request.
        """
        with self._engine.connect() as conn:
            row = conn.execute(
                select(IDEMPOTENCY.c.fingerprint, IDEMPOTENCY.c.answer).where(
                    IDEMPOTENCY.c.system_id == system_id,
                    IDEMPOTENCY.c.scope == scope,
                    IDEMPOTENCY.c.key == key,
                    IDEMPOTENCY.c.created_at >= utc_now() - self.kept_for,
                )
            ).first()
        if row is None:
            return None
        if row.fingerprint != fingerprint:
            raise ConflictError(f"idempotency key {key} was used for another request")
        return str(row.answer)

    def keep(
        self, conn: Connection, system_id: str, scope: str, key: str, fingerprint: str, answer: str
    ) -> None:
        """Keep ``answer`` in the caller's transaction, deleting the expired ones first.

        A concurrent repeat that kept its answer first makes the insert fail with
        :class:`IntegrityError`, which the caller turns into that earlier answer.
        """
        now = utc_now()
        conn.execute(delete(IDEMPOTENCY).where(IDEMPOTENCY.c.created_at < now - self.kept_for))
        conn.execute(
            insert(IDEMPOTENCY).values(
                system_id=system_id,
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                answer=answer,
                created_at=now,
            )
        )

    def remember(self, system_id: str, scope: str, key: str, fingerprint: str, answer: str) -> str:
        """Keep the answer of a write; a concurrent repeat gets the answer stored first."""
        try:
            with self._engine.begin() as conn:
                self.keep(conn, system_id, scope, key, fingerprint, answer)
        except IntegrityError:  # a concurrent repeat recorded it first: answer as it did
            earlier = self.earlier(system_id, scope, key, fingerprint)
            if earlier is not None:
                return earlier
            raise
        return answer
