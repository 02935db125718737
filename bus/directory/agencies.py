"""The agency directory, kept on the compacted ``edx.agencies`` topic (DESIGN.md §3).

Each record's key is an agency code, its value an Avro ``AgencyRecord``
(:data:`bus.events.AGENCY_RECORD`); a null value (tombstone) removes the agency.
Compaction keeps the newest record per code, so reading the topic from the start
to its end gives the whole directory. Operators write it (``edx agency add``,
``edx agency suspend``); every service reads it: the router checks senders,
recipients and certificate fingerprints against it.

:class:`AgencyDirectory` is a plain in-memory view; :class:`DirectoryFollower`
keeps one up to date for a long-running service by reading the topic up to its
current end whenever asked (cheap when nothing changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from bus._service import AsyncService
from bus.errors import ConfigError, InactiveAgencyError, UnknownAgencyError
from bus.events import AGENCY_RECORD
from bus.kafka import (
    background_fetch_wait_ms,
    make_consumer,
    make_producer,
    partition_ends,
    started,
    translate_errors,
)
from bus.settings import Settings
from bus.topics import ensure_inbox, ensure_topics
from edxml import AgencyCode
from signing import certificate_fingerprint, load_certificate_file

__all__ = [
    "Agency",
    "AgencyDirectory",
    "AgencyState",
    "DirectoryFollower",
    "certificate_fingerprints",
    "load_directory",
    "publish_agency",
    "reinstate_agency",
    "suspend_agency",
]


log = logging.getLogger(__name__)


class AgencyState(StrEnum):
    """Whether an agency may send and receive."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


@dataclass(frozen=True)
class Agency:
    """One agency of the directory."""

    code: str
    name: str
    parent: str | None
    level: int
    cert_fingerprints: tuple[str, ...] = ()
    state: AgencyState = AgencyState.ACTIVE
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def new(
        cls,
        code: str,
        name: str,
        *,
        cert_fingerprints: Iterable[str] = (),
        pattern: str | None = None,
    ) -> Agency:
        """A new, active agency; level and parent are derived from the code (DOMAIN.md §1)."""
        parsed = AgencyCode.parse(code, pattern)
        if not name.strip():
            raise ConfigError(f"agency {code} needs a name")
        parent = parsed.parent
        return cls(
            code=str(parsed),
            name=name.strip(),
            parent=str(parent) if parent is not None else None,
            level=parsed.level,
            cert_fingerprints=_normalise(cert_fingerprints),
        )

    @property
    def active(self) -> bool:
        """Whether the agency may send and receive."""
        return self.state is AgencyState.ACTIVE

    def to_record(self) -> dict[str, Any]:
        """The Avro ``AgencyRecord`` of this agency."""
        return {
            "code": self.code,
            "name": self.name,
            "parent": self.parent,
            "level": self.level,
            "cert_fingerprints": list(self.cert_fingerprints),
            "state": self.state.value,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Agency:
        """An agency from a decoded ``AgencyRecord``."""
        updated = record["updated_at"]
        if isinstance(updated, int):
            updated = datetime.fromtimestamp(updated / 1000, UTC)
        return cls(
            code=record["code"],
            name=record["name"],
            parent=record.get("parent"),
            level=int(record["level"]),
            cert_fingerprints=tuple(record.get("cert_fingerprints") or ()),
            state=AgencyState(record.get("state") or AgencyState.ACTIVE),
            updated_at=updated,
        )


def _normalise(fingerprints: Iterable[str]) -> tuple[str, ...]:
    cleaned = (f.replace(":", "").strip().lower() for f in fingerprints)
    return tuple(dict.fromkeys(f for f in cleaned if f))


def certificate_fingerprints(path: Path) -> tuple[str, ...]:
    """SHA-256 fingerprints of the certificates in a PEM or DER file (the directory's form)."""
    return tuple(certificate_fingerprint(cert) for cert in load_certificate_file(path))


class AgencyDirectory:
    """The agencies known at one moment, by code."""

    def __init__(self, agencies: Iterable[Agency] = ()) -> None:
        self._by_code: dict[str, Agency] = {a.code: a for a in agencies}

    @classmethod
    async def load(cls, settings: Settings) -> AgencyDirectory:
        """Read ``edx.agencies`` from its start to its current end."""
        async with DirectoryFollower(settings) as follower:
            return follower.directory

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Agency]:
        return iter(self.all())

    def get(self, code: str) -> Agency | None:
        """The agency with this code, or None."""
        return self._by_code.get(code)

    def require(self, code: str, role: str = "agency") -> Agency:
        """The agency with this code, which must exist and be active.

        Raises :class:`UnknownAgencyError` or :class:`InactiveAgencyError`.
        """
        agency = self._by_code.get(code)
        if agency is None:
            raise UnknownAgencyError(code, role)
        if not agency.active:
            raise InactiveAgencyError(code, role)
        return agency

    def all(self) -> list[Agency]:
        """Every agency, ordered by level and then code."""
        return sorted(self._by_code.values(), key=lambda a: (a.level, a.code))

    def under(self, code: str, *, inclusive: bool = False) -> list[Agency]:
        """Agencies below ``code`` in the administrative tree (by their recorded parents)."""
        children: dict[str | None, list[Agency]] = {}
        for agency in self._by_code.values():
            children.setdefault(agency.parent, []).append(agency)
        found: list[Agency] = []
        pending = [code]
        seen = {code}
        while pending:
            for child in children.get(pending.pop(), []):
                if child.code not in seen:
                    seen.add(child.code)
                    found.append(child)
                    pending.append(child.code)
        if inclusive and code in self._by_code:
            found.append(self._by_code[code])
        return sorted(found, key=lambda a: (a.level, a.code))

    def at_level(self, level: int) -> list[Agency]:
        """Agencies of one administrative level."""
        return [a for a in self.all() if a.level == level]

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one ``edx.agencies`` record: an agency record, or a tombstone."""
        if value is None:
            if key is not None:
                self._by_code.pop(key.decode("utf-8", "replace"), None)
            return
        agency = Agency.from_record(AGENCY_RECORD.decode(value))
        self._by_code[agency.code] = agency


class DirectoryFollower(AsyncService):
    """Keeps an :class:`AgencyDirectory` in step with ``edx.agencies``.

    ``start()`` reads the topic to its end; ``refresh()`` reads whatever was
    written since, up to the end as it is when called. With ``follow=True`` a
    task inside the follower's scope also applies new records as they arrive, so
    a long-running service sees a suspension within moments without asking. A
    missing topic reads as an empty directory until it appears.
    """

    def __init__(self, settings: Settings, *, follow: bool = False) -> None:
        self.settings = settings
        self.directory = AgencyDirectory()
        self._follow = follow
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and read the directory to its current end."""
        self._consumer = make_consumer(
            self.settings,
            group_id=None,
            fetch_max_wait_ms=background_fetch_wait_ms(self.settings),
        )
        try:
            with translate_errors("reading the agency directory"):
                await self._consumer.start()
            await self.refresh()
        except BaseException:
            await self.stop()
            raise
        if self._follow:
            self._task = asyncio.create_task(self._follow_loop(), name="edx-directory-follower")

    async def stop(self) -> None:
        """Stop following and disconnect."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        consumer, self._consumer = self._consumer, None
        self._partitions = []  # a start after a stop assigns its new reader again
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _follow_loop(self) -> None:
        """Apply new records as they come; a failing broker is retried, not fatal."""
        while True:
            try:
                async with self._lock:
                    consumer = self._consumer
                    if consumer is None:
                        return
                    if not self._partitions and not await self._assign(consumer):
                        batch = {}
                    else:
                        batch = await consumer.getmany(*self._partitions, timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self.directory.apply(record.key, record.value)
                if not batch:
                    await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep following; refresh() reports errors to callers
                log.warning("directory follower: %s", exc)
                await asyncio.sleep(1.0)

    async def refresh(self) -> AgencyDirectory:
        """Read records written since the last call, up to the topic's current end."""
        async with self._lock:
            return await self._refresh_locked()

    async def _refresh_locked(self) -> AgencyDirectory:
        consumer = self._consumer
        if consumer is None:
            raise ConfigError("the directory follower is not started")
        with translate_errors("reading the agency directory"):
            if not self._partitions and not await self._assign(consumer):
                return self.directory
            ends = await partition_ends(consumer, self._partitions)
            behind = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
            while behind:
                batch = await consumer.getmany(*behind, timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        self.directory.apply(record.key, record.value)
                behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        return self.directory

    async def _assign(self, consumer: AIOKafkaConsumer) -> bool:
        topic = self.settings.topics.agencies
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer.topics()  # refreshes the metadata
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return False
        self._partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        return True


async def load_directory(settings: Settings) -> AgencyDirectory:
    """The directory as it is now (``AgencyDirectory.load``)."""
    return await AgencyDirectory.load(settings)


async def publish_agency(settings: Settings, agency: Agency) -> Agency:
    """Write one agency record to ``edx.agencies`` and create the agency's inbox.

    The topics of DESIGN.md §3 are created first if they are missing.
    """
    await ensure_topics(settings)
    value = AGENCY_RECORD.encode(agency.to_record())
    async with started(make_producer(settings), "publishing an agency") as producer:
        with translate_errors(f"publishing agency {agency.code}"):
            await producer.send_and_wait(
                settings.topics.agencies, value, key=agency.code.encode("utf-8")
            )
    await ensure_inbox(settings, agency.code)
    return agency


async def _set_state(settings: Settings, code: str, state: AgencyState) -> Agency:
    directory = await AgencyDirectory.load(settings)
    current = directory.get(code)
    if current is None:
        raise UnknownAgencyError(code)
    if current.state is state:
        return current
    return await publish_agency(
        settings, replace(current, state=state, updated_at=datetime.now(UTC))
    )


async def suspend_agency(settings: Settings, code: str) -> Agency:
    """Mark an agency suspended: the router refuses its packages and packages to it."""
    return await _set_state(settings, code, AgencyState.SUSPENDED)


async def reinstate_agency(settings: Settings, code: str) -> Agency:
    """Mark a suspended agency active again."""
    return await _set_state(settings, code, AgencyState.ACTIVE)
