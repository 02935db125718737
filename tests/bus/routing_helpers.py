"""Helpers of the router tests: register agencies, build and submit packages, read topics.

Everything goes through the real broker: packages are submitted to the test's own
``edx.submit`` and read back from its own inboxes, events and dead-letter topics.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bus.directory import Agency, publish_agency
from bus.events import LIFECYCLE_EVENT
from bus.kafka import make_producer, started
from bus.records import Header, content_digest, encode_headers
from bus.router import Router
from bus.settings import Settings
from edxml import DocumentPackage, StatusCode, StatusPackage, build, new_document, new_status
from signing import Signer
from tests import kafka_reading
from tests.service_processes import bus_environment

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Record:
    """One record read back from a topic."""

    key: str | None
    value: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int


async def register(
    settings: Settings, signer_for: Callable[[str], Signer], codes: Iterable[str]
) -> None:
    """Publish agencies with the fingerprints of their dev-PKI certificates."""
    for code in codes:
        fingerprint = signer_for(code).fingerprint
        await publish_agency(
            settings, Agency.new(code, f"Agency {code}", cert_fingerprints=[fingerprint])
        )


def document(
    sender: str, recipients: Sequence[str], subject: str = "Về việc thử nghiệm"
) -> DocumentPackage:
    """A new document with a DocumentId no other test uses."""
    number = str(next(_numbers))
    return new_document(
        sender,
        list(recipients),
        number=number,
        notation="UBND-VP",
        subject=subject,
        signer_name="Nguyễn Văn A",
    )


def status(sender: str, answering: DocumentPackage, code: StatusCode) -> StatusPackage:
    """A status package from ``sender`` about ``answering``."""
    return new_status(sender, answering, code, f"status {code.value}")


def signed(package: DocumentPackage | StatusPackage, signer: Signer) -> bytes:
    """The package built and signed."""
    return signer.sign(build(package))


async def submit(
    settings: Settings,
    value: bytes | None,
    *,
    sender: str,
    document_id: str = "",
    kind: str = "document",
) -> None:
    """Write one record to ``edx.submit`` as an agency's client would."""
    headers: dict[Header, str] = {Header.KIND: kind, Header.SENDER: sender}
    if document_id:
        headers[Header.DOCUMENT_ID] = document_id
    if value is not None:
        headers[Header.DIGEST] = content_digest(value)
    async with started(make_producer(settings)) as producer:
        await producer.send_and_wait(
            settings.topics.submit, value, key=sender.encode(), headers=encode_headers(headers)
        )


async def read_topic(settings: Settings, topic: str) -> list[Record]:
    """Every record of ``topic`` from its start to its current end (none if it is missing)."""
    return [
        Record(
            r.key.decode() if r.key is not None else None,
            r.value,
            {k: v.decode() for k, v in r.headers},
            r.partition,
            r.offset,
        )
        for r in await kafka_reading.read_topic(settings, topic)
    ]


async def read_events(settings: Settings) -> list[dict[str, Any]]:
    """Every lifecycle event of the test's events topic, decoded."""
    return [
        LIFECYCLE_EVENT.decode(r.value)
        for r in await read_topic(settings, settings.topics.events)
        if r.value is not None
    ]


#: Consumer options that make a test router join its group sooner (Tansu waits about
#: half the session timeout; 6 s is the least a Kafka broker accepts by default).
FAST_JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def router_environment(settings: Settings) -> dict[str, str]:
    """What ``python -m bus.router`` needs to route the test's topics in its own group."""
    return {
        **bus_environment(settings),
        "EDX_ROUTER_GROUP": settings.groups.router,
        "EDX_LOG_FORMAT": "json",
    }


def quick_router(settings: Settings, **options: Any) -> Router:
    """A router for a test: its own group (from the settings), joining quickly."""
    return Router(settings, consumer_options=FAST_JOIN, **options)


async def route(router: Router, expected: int, *, within: float = 30.0) -> None:
    """Let ``router`` handle records until it has handled ``expected`` in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while router.stats.handled < expected:
        if loop.time() > deadline:
            raise AssertionError(
                f"router handled {router.stats.handled} records, expected {expected}"
            )
        await router.route_available(timeout_ms=200)
