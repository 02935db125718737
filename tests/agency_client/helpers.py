"""Helpers and fixtures shared by the exchange tests (SDK, CLI, end to end).

Settings on the real broker with the test's own topics, packages, topic reads,
agencies registered in the directory, and a router running in the test's scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from agency_client import AgencyClient, InboxItem, IncomingDocument
from bus import Agency, publish_agency
from bus.kafka import make_producer
from bus.records import Header, content_digest, encode_headers
from bus.router import Router
from bus.settings import Settings
from bus.topics import ensure_topics
from edxml import DocumentPackage, new_document
from signing import DevPki
from tests.kafka_reading import read_topic

PROVINCE = "000.00.00.H44"  # UBND Tỉnh Quảng Bình
DISTRICT = "000.00.24.H44"  # UBND Huyện Bố Trạch
COMMUNE = "000.46.24.H44"  # UBND Xã Hoàn Trạch
DEPARTMENT = "000.01.00.H44"  # a department of the province
OTHER_PROVINCE = "000.00.00.H41"

_numbers = itertools.count(1)


@pytest.fixture
def agency_pki(dev_pki: DevPki) -> DevPki:
    """The session dev PKI with a certificate for every test agency."""
    for code in (PROVINCE, DISTRICT, COMMUNE, DEPARTMENT, OTHER_PROVINCE):
        if not dev_pki.paths(code).cert_path.exists():
            dev_pki.issue(code, f"Agency {code}")
    return dev_pki


@pytest.fixture
def exchange_settings(bus_settings: Settings, agency_pki: DevPki) -> Settings:
    """The test's own topics on the session broker, with the session dev PKI."""
    return bus_settings.with_overrides(pki=agency_pki.directory, resubmit_after_seconds=300.0)


@pytest.fixture
async def inbox_topics(exchange_settings: Settings) -> Settings:
    """The test's topics, created (with the inboxes of every test agency)."""
    await ensure_topics(
        exchange_settings, agencies=[PROVINCE, DISTRICT, COMMUNE, DEPARTMENT, OTHER_PROVINCE]
    )
    return exchange_settings


def make_document(
    sender: str, recipients: Sequence[str], *, subject: str = "Về việc triển khai", **kw: Any
) -> DocumentPackage:
    """A small new document with a unique number."""
    return new_document(
        sender,
        list(recipients),
        number=str(next(_numbers)),
        notation=kw.pop("notation", "UBND-VP"),
        subject=subject,
        signer_name="Nguyễn Văn A",
        **kw,
    )


async def produce(
    settings: Settings, topic: str, value: bytes, *, key: str, headers: dict[Header, str]
) -> None:
    """Write one record as a router (or an attacker) would."""
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value=value, key=key.encode(), headers=encode_headers(headers)
        )
    finally:
        await producer.stop()


def delivery_headers(kind: str, document_id: str, sender: str, data: bytes) -> dict[Header, str]:
    return {
        Header.KIND: kind,
        Header.DOCUMENT_ID: document_id,
        Header.SENDER: sender,
        Header.DIGEST: content_digest(data),
    }


async def deliver(
    settings: Settings,
    to: str,
    sender: str,
    document_id: str,
    data: bytes,
    *,
    kind: str = "document",
) -> None:
    """Write a package into ``to``'s inbox as the router does: keyed by its sender."""
    await produce(
        settings,
        settings.topics.inbox(to),
        data,
        key=sender,
        headers=delivery_headers(kind, document_id, sender, data),
    )


async def read_records(
    settings: Settings,
    topic: str,
    *,
    count: int,
    within: float = 20.0,
    match: Callable[[Any], bool] = lambda r: True,
) -> list[Any]:
    """At least ``count`` matching records of ``topic`` from its start (fewer after ``within``)."""
    return await read_topic(settings, topic, count=count, within=within, match=match)


@pytest.fixture
def outbox_path(exchange_settings: Settings) -> Callable[[str], Path]:
    return exchange_settings.outbox_path


# --- a running bus: agencies registered, a router as a task of the test --------------

ALL_AGENCIES = (PROVINCE, DISTRICT, COMMUNE, DEPARTMENT, OTHER_PROVINCE)
#: Router consumer options that make it join its group quickly in tests.
FAST_JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


async def register_agencies(settings: Settings, dev_pki: DevPki, codes: Sequence[str]) -> None:
    """Put the agencies in the directory with their dev-PKI certificate fingerprints."""
    for code in codes:
        fingerprint = dev_pki.signer(code).fingerprint
        await publish_agency(
            settings, Agency.new(code, f"Agency {code}", cert_fingerprints=[fingerprint])
        )


@contextlib.asynccontextmanager
async def running_router(settings: Settings) -> AsyncIterator[Router]:
    """A router running as a task inside the caller's scope; stopped and awaited on exit."""
    stop = asyncio.Event()
    async with Router(settings, consumer_options=FAST_JOIN) as router:
        task = asyncio.create_task(router.run(stop), name="test-router")
        try:
            yield router
        finally:
            stop.set()
            await task


async def take(client: AgencyClient, *, within: float = 30.0) -> InboxItem:
    """The next package of a client's inbox, taken at once (01 and commit)."""
    item = await client.receive(idle_timeout=within).__anext__()
    await client.acknowledge(item)
    return item


async def documents_taken(client: AgencyClient, wanted: set[str], within: float) -> list[str]:
    """Every document id the application is handed until all of ``wanted`` came, then
    whatever else comes in 3 quiet seconds more (so a duplicate, or a stray, would show)."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not wanted <= set(seen):
        assert loop.time() < deadline, f"{client.agency} got only {seen} of {wanted}"
        async for item in client.receive(idle_timeout=1):
            if isinstance(item, IncomingDocument):
                seen.append(item.document_id)
    seen += [i.document_id async for i in client.receive(idle_timeout=3)]
    return seen


@pytest.fixture
async def live_bus(inbox_topics: Settings, dev_pki: DevPki) -> AsyncIterator[Settings]:
    """The test's topics with every test agency registered and a router running."""
    await register_agencies(inbox_topics, dev_pki, ALL_AGENCIES)
    async with running_router(inbox_topics):
        yield inbox_topics


@pytest.fixture
def threaded_bus(exchange_settings: Settings, agency_pki: DevPki) -> Iterator[Settings]:
    """Agencies registered and a router running in a thread with its own event loop.

    For code that runs its own loop (the CLI's ``asyncio.run``, the blocking client).
    """
    settings = exchange_settings
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            await register_agencies(settings, agency_pki, ALL_AGENCIES)
            async with running_router(settings):
                ready.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the router did not start"
    if failure:
        raise failure[0]
    try:
        yield settings
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
