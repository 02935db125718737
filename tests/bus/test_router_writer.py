"""The router's writes alone: what a decision becomes, sent to a producer in memory.

No broker: :class:`bus.router.writer.Writer` is handed a checked package and its
decision (as the checker and the decider would) and sends inbox copies, events,
dead letters and notices to a recording producer; the test reads what was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from bus.acceptance import Accepted
from bus.directory import Agency, AgencyDirectory
from bus.errors import ReplayError
from bus.events import LIFECYCLE_EVENT
from bus.records import content_digest
from bus.router.checker import CheckedPackage, Refused
from bus.router.stats import RouterStats
from bus.router.writer import BatchWrites, Writer
from bus.settings import Settings
from edxml import build
from edxml.errors import MalformedXmlError
from tests.bus.routing_helpers import document

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
OTHER = "000.00.00.H44"


@dataclass(frozen=True)
class _Metadata:
    partition: int
    offset: int


@dataclass(frozen=True)
class _Sent:
    topic: str
    value: bytes | None
    key: bytes | None
    headers: dict[str, str]


class _Producer:
    """Records what is sent; every send is acknowledged at the next offset of its topic."""

    def __init__(self) -> None:
        self.sent: list[_Sent] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[_Metadata]:
        offset = sum(1 for s in self.sent if s.topic == topic)
        self.sent.append(_Sent(topic, value, key, {k: v.decode() for k, v in headers or []}))
        future: asyncio.Future[_Metadata] = asyncio.get_running_loop().create_future()
        future.set_result(_Metadata(0, offset))
        return future

    def on(self, topic: str) -> list[_Sent]:
        return [s for s in self.sent if s.topic == topic]


class _Inboxes:
    """Inbox topics that always exist; ``lost`` copies are the ones the broker lost."""

    def __init__(self, lost: Collection[str] = ()) -> None:
        self.lost = sorted(lost)
        self.remembered: list[tuple[str, int, int, str]] = []

    async def ensure(self, agency: str) -> None:
        pass

    async def lost_copies(self, accepted: Accepted, skip: Collection[str] = ()) -> list[str]:
        return [r for r in self.lost if r not in skip]

    def remember(self, recipient: str, partition: int, offset: int, digest: str) -> None:
        self.remembered.append((recipient, partition, offset, digest))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.of(home=tmp_path)


def _writer(
    settings: Settings, producer: _Producer, inboxes: _Inboxes, stats: RouterStats | None = None
) -> Writer:
    directory = AgencyDirectory(Agency.new(c, c) for c in (SENDER, RECIPIENT, OTHER))
    return Writer(
        settings,
        inboxes,
        lambda: directory,
        stats or RouterStats(),
        producer=producer,  # type: ignore[arg-type]
    )


def _record(settings: Settings, value: bytes | None, key: str = SENDER) -> ConsumerRecord[Any, Any]:
    headers = [("edx-kind", b"document")]
    return ConsumerRecord(
        settings.topics.submit, 1, 42, 0, 0, key.encode(), value, None, 0, 0, headers
    )


def _accepted(checked: CheckedPackage, delivered: Collection[str] = ()) -> Accepted:
    package = checked.package
    return Accepted(
        SENDER,
        package.document_id,
        checked.digest,
        tuple(package.recipient_codes),  # type: ignore[union-attr]
        frozenset(delivered),
        datetime.now(UTC),
    )


def _events(settings: Settings, producer: _Producer) -> list[dict[str, Any]]:
    return [
        LIFECYCLE_EVENT.decode(s.value)
        for s in producer.on(settings.topics.events)
        if s.value is not None
    ]


async def _route(
    writer: Writer, record: ConsumerRecord[Any, Any], outcome: Any, decision: Any
) -> BatchWrites:
    await writer.start()
    writes = BatchWrites()
    await writer.route(record, outcome, decision, writes)
    return writes


async def test_an_accepted_document_is_copied_unchanged_with_its_events(settings: Settings) -> None:
    producer, inboxes = _Producer(), _Inboxes()
    writer = _writer(settings, producer, inboxes)
    package = document(SENDER, [RECIPIENT, OTHER])
    data = build(package)
    checked = CheckedPackage(package, SENDER, "f" * 64, content_digest(data), data)
    writes = await _route(writer, _record(settings, data), checked, _accepted(checked))
    landed = await writer.flush(writes)
    writer.recorded(writes, landed)
    for recipient in (RECIPIENT, OTHER):
        (copy,) = producer.on(settings.topics.inbox(recipient))
        assert copy.value == data
        assert copy.key == SENDER.encode()
        assert copy.headers["edx-digest"] == checked.digest
        assert copy.headers["edx-source"] == f"{settings.topics.submit}/1/42"
    assert [(d.recipient, d.partition, d.offset) for d in landed] == [
        (RECIPIENT, 0, 0),
        (OTHER, 0, 0),
    ]
    assert [(e["kind"], e["recipient"]) for e in _events(settings, producer)] == [
        ("SUBMITTED", None),
        ("DELIVERED", RECIPIENT),
        ("DELIVERED", OTHER),
    ]
    assert [r[0] for r in inboxes.remembered] == [RECIPIENT, OTHER]
    assert producer.on(settings.topics.deadletter) == []


async def test_a_retry_writes_only_what_is_missing_or_lost(settings: Settings) -> None:
    producer, inboxes = _Producer(), _Inboxes(lost=[OTHER])
    writer = _writer(settings, producer, inboxes)
    package = document(SENDER, [RECIPIENT, OTHER])
    data = build(package)
    checked = CheckedPackage(package, SENDER, "f" * 64, content_digest(data), data)
    accepted = _accepted(checked, delivered=[OTHER])  # RECIPIENT lacks it, OTHER's was lost
    writes = await _route(writer, _record(settings, data), checked, accepted)
    landed = await writer.flush(writes)
    assert sorted(d.recipient for d in landed) == [RECIPIENT, OTHER]
    inboxes.lost = []  # read back in place: nothing but the missing copy
    again = _Producer()
    writer = _writer(settings, again, inboxes)
    writes = await _route(writer, _record(settings, data), checked, accepted)
    assert [d.recipient for d in await writer.flush(writes)] == [RECIPIENT]


async def test_a_refusal_goes_to_dead_letters_and_its_bound_signer_only(
    settings: Settings,
) -> None:
    producer, stats = _Producer(), RouterStats()
    writer = _writer(settings, producer, _Inboxes(), stats)
    package = document(SENDER, [RECIPIENT])
    data = build(package)
    checked = CheckedPackage(package, SENDER, "f" * 64, content_digest(data), data)
    replay = ReplayError(package.document_id, SENDER)
    writes = await _route(writer, _record(settings, data), checked, replay)
    garbage = _record(settings, b"<not-xml", key=OTHER)
    await writer.route(garbage, Refused(MalformedXmlError("no")), None, writes)
    assert await writer.flush(writes) == []
    dead = producer.on(settings.topics.deadletter)
    assert [(d.headers["edx-reason-code"], d.value) for d in dead] == [
        ("replay", data),
        ("malformed-xml", b"<not-xml"),
    ]
    # The checked package's sender signed it and hears why; nobody signed the garbage.
    (notice,) = producer.on(settings.topics.inbox(SENDER))
    assert notice.headers["edx-kind"] == "rejection"
    assert producer.on(settings.topics.inbox(OTHER)) == []
    rejected = [(e["reason_code"], e["actor"]) for e in _events(settings, producer)]
    assert rejected == [("replay", SENDER), ("malformed-xml", OTHER)]
    assert stats.reasons == {"replay": 1, "malformed-xml": 1}
    assert stats.handled == 2
