"""Systems: the office-software installations a gateway acts for.

A system has an id, a secret (the HMAC key of the hub protocol, the signing key of
the native API) and the agencies it may act for. Deny by default: a system acts
only for its agencies and reads only their inboxes. Every change raises one version
counter, and a running gateway reads systems per request, so ``edx gateway system``
changes take effect at once, without a restart.

Secrets are never logged and never part of a ``System``'s repr.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.engine import Connection

from gateway._time import utc_now
from gateway.errors import BadRequestError, ConflictError, NotFoundError
from gateway.store.schema import CONFIG, SYSTEM_AGENCIES, SYSTEMS

__all__ = ["System", "SystemRegistry"]

_MAX_ID = 128


@dataclass(frozen=True)
class System:
    """One registered system (its secret stays in the registry)."""

    system_id: str
    agencies: frozenset[str]
    may_register: bool = False

    def serves(self, agency: str) -> bool:
        """Whether this system may act for ``agency``."""
        return agency in self.agencies


def _check_id(system_id: str) -> None:
    if not system_id or len(system_id) > _MAX_ID or not system_id.isascii():
        raise BadRequestError(f"system id {system_id!r} must be 1-{_MAX_ID} ASCII characters")
    if any(c.isspace() or c in '"\\;' for c in system_id):
        raise BadRequestError(f"system id {system_id!r} may not hold spaces, quotes or ';'")


def _check_secret(secret: str) -> None:
    if len(secret) < 8:
        raise BadRequestError("a system secret must be at least 8 characters long")


class SystemRegistry:
    """Systems in the gateway's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- changes (each raises the version) -------------------------------------

    def add(
        self, system_id: str, agencies: Iterable[str], secret: str, *, may_register: bool = False
    ) -> System:
        """Register a system; an id already registered is a conflict."""
        _check_id(system_id)
        _check_secret(secret)
        codes = frozenset(agencies)
        if not codes:
            raise BadRequestError("a system must act for at least one agency (--agency CODE)")
        now = utc_now()
        with self._engine.begin() as conn:
            if conn.execute(
                select(SYSTEMS.c.system_id).where(SYSTEMS.c.system_id == system_id)
            ).first():
                raise ConflictError(f"system {system_id} is already registered")
            conn.execute(
                insert(SYSTEMS).values(
                    system_id=system_id,
                    secret=secret,
                    may_register=may_register,
                    created_at=now,
                    updated_at=now,
                )
            )
            if codes:
                conn.execute(
                    insert(SYSTEM_AGENCIES),
                    [{"system_id": system_id, "agency": c} for c in sorted(codes)],
                )
            self._bump(conn)
        return System(system_id, codes, may_register)

    def remove(self, system_id: str) -> None:
        """Forget a system; its requests are refused from the next one on."""
        with self._engine.begin() as conn:
            gone = conn.execute(delete(SYSTEMS).where(SYSTEMS.c.system_id == system_id))
            conn.execute(delete(SYSTEM_AGENCIES).where(SYSTEM_AGENCIES.c.system_id == system_id))
            if not gone.rowcount:
                raise NotFoundError(f"no system {system_id} is registered")
            self._bump(conn)

    def rotate(self, system_id: str, secret: str) -> None:
        """Replace a system's secret; the old one stops working at once."""
        _check_secret(secret)
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(SYSTEMS)
                .where(SYSTEMS.c.system_id == system_id)
                .values(secret=secret, updated_at=utc_now())
            )
            if not changed.rowcount:
                raise NotFoundError(f"no system {system_id} is registered")
            self._bump(conn)

    def grant_agency(self, system_id: str, agency: str) -> None:
        """Let a system act for one more agency (a sub-agency it registered)."""
        with self._engine.begin() as conn:
            exists = conn.execute(
                select(SYSTEM_AGENCIES.c.agency).where(
                    SYSTEM_AGENCIES.c.system_id == system_id, SYSTEM_AGENCIES.c.agency == agency
                )
            ).first()
            if exists is None:
                conn.execute(insert(SYSTEM_AGENCIES).values(system_id=system_id, agency=agency))
                self._bump(conn)

    @staticmethod
    def _bump(conn: Connection) -> None:
        changed = conn.execute(
            update(CONFIG).where(CONFIG.c.id == 1).values(version=CONFIG.c.version + 1)
        )
        if not changed.rowcount:
            conn.execute(insert(CONFIG).values(id=1, version=1))

    # --- reading ---------------------------------------------------------------

    def version(self) -> int:
        """The change counter (0 before any change)."""
        with self._engine.connect() as conn:
            value = conn.execute(select(CONFIG.c.version).where(CONFIG.c.id == 1)).scalar()
        return int(value or 0)

    def get(self, system_id: str) -> System | None:
        """The system, read now (so changes show at once)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(SYSTEMS.c.may_register).where(SYSTEMS.c.system_id == system_id)
            ).first()
            if row is None:
                return None
            codes = conn.execute(
                select(SYSTEM_AGENCIES.c.agency).where(SYSTEM_AGENCIES.c.system_id == system_id)
            ).scalars()
            return System(system_id, frozenset(codes), bool(row.may_register))

    def secret_of(self, system_id: str) -> str | None:
        """The system's secret, for the signature check only."""
        with self._engine.connect() as conn:
            value = conn.execute(
                select(SYSTEMS.c.secret).where(SYSTEMS.c.system_id == system_id)
            ).scalar()
        return None if value is None else str(value)

    def all(self) -> list[System]:
        """Every system, by id."""
        with self._engine.connect() as conn:
            systems = conn.execute(
                select(SYSTEMS.c.system_id, SYSTEMS.c.may_register).order_by(SYSTEMS.c.system_id)
            ).all()
            pairs = conn.execute(
                select(SYSTEM_AGENCIES.c.system_id, SYSTEM_AGENCIES.c.agency)
            ).all()
        served: dict[str, set[str]] = {}
        for sid, code in pairs:
            served.setdefault(sid, set()).add(code)
        return [
            System(r.system_id, frozenset(served.get(r.system_id, ())), bool(r.may_register))
            for r in systems
        ]

    def served_agencies(self) -> frozenset[str]:
        """Every agency some system acts for (the inboxes the gateway reads)."""
        with self._engine.connect() as conn:
            return frozenset(conn.execute(select(SYSTEM_AGENCIES.c.agency).distinct()).scalars())

    def system_of_agency(self, agency: str) -> str:
        """A system serving ``agency`` (``""`` if none): the hub's ``centerCode``."""
        with self._engine.connect() as conn:
            value = conn.execute(
                select(SYSTEM_AGENCIES.c.system_id)
                .where(SYSTEM_AGENCIES.c.agency == agency)
                .order_by(SYSTEM_AGENCIES.c.system_id)
                .limit(1)
            ).scalar()
        return "" if value is None else str(value)
