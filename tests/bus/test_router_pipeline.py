"""The pipelined router (``Router.run``): later batches are routed while earlier ones
wait on the broker, yet offsets are committed in order and only after the acks.

Each test holds a batch's back (its acknowledgements) on an event the test
controls, so the overlap is forced, not hoped for: the first record is submitted
alone and the rest only once the router waits on its acknowledgements.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bus.acceptance import Delivery
from bus.errors import BrokerUnavailableError
from bus.kafka import make_producer, started
from bus.records import Header, content_digest, encode_headers
from bus.router import Router
from bus.router.writer import BatchWrites, Writer
from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import document, quick_router, read_topic, register, signed

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
#: A bound on how long a test waits for the router before it fails (never a pass
#: condition: every wait is for a state, not for time).
WITHIN = 60.0


@pytest.fixture
async def settings(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> Settings:
    configured = bus_settings.with_overrides(pki=pki_dir)
    await register(configured, signer_for, [SENDER, RECIPIENT])
    return configured


async def _submit_each(settings: Settings, values: list[bytes]) -> None:
    """Each value its own producer request, acknowledged before the next is sent."""
    async with started(make_producer(settings)) as producer:
        for value in values:
            headers = {Header.KIND: "document", Header.SENDER: SENDER}
            headers[Header.DIGEST] = content_digest(value)
            await producer.send_and_wait(
                settings.topics.submit, value, key=SENDER.encode(), headers=encode_headers(headers)
            )


async def _until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not reached: {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def _running(router: Router) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.ensure_future(router.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await task


def _document_ids(records: list[Any]) -> list[str]:
    return [r.headers[Header.DOCUMENT_ID] for r in records]


def _first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


async def _nothing_left(settings: Settings) -> None:
    """A new member of the router's group finds every offset committed."""
    async with quick_router(settings) as again:
        while not again.assignment:
            assert await again.route_available(timeout_ms=500) == 0
        assert await again.route_available(timeout_ms=500) == 0


async def test_later_batches_are_routed_while_the_first_waits_and_commits_follow_in_order(
    settings: Settings, signer_for: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = [document(SENDER, [RECIPIENT]) for _ in range(12)]
    values = [signed(p, signer_for(SENDER)) for p in packages]
    held = asyncio.Event()
    release = asyncio.Event()
    flushes = 0
    flush = Writer.flush

    async def held_first_flush(self: Writer, writes: BatchWrites) -> list[Delivery]:
        nonlocal flushes
        flushes += 1
        if flushes == 1:
            held.set()
            await release.wait()
        return await flush(self, writes)

    monkeypatch.setattr(Writer, "flush", held_first_flush)
    async with quick_router(settings) as router:
        async with _running(router):
            await _submit_each(settings, values[:1])
            await _until(held.is_set, "the first batch's back waits")
            await _submit_each(settings, values[1:])
            # The records after the first are routed (sent) while its back waits...
            await _until(lambda: flushes >= 2, "a later batch sent while the first waits")
            # ...yet nothing is committed before the first batch's acknowledgements.
            assert router.stats.committed == 0
            release.set()
            await _until(lambda: router.stats.committed == len(values), "every offset committed")
        assert router.stats.delivered == len(values)
    inbox = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert _document_ids(inbox) == [p.document_id for p in packages]  # in order, once each
    await _nothing_left(settings)


async def test_a_resubmission_behind_its_first_copy_in_flight_is_not_written_twice(
    settings: Settings, signer_for: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = document(SENDER, [RECIPIENT])
    value = signed(package, signer_for(SENDER))
    held = asyncio.Event()
    release = asyncio.Event()
    flushes = 0
    flush = Writer.flush

    async def held_first_flush(self: Writer, writes: BatchWrites) -> list[Delivery]:
        nonlocal flushes
        flushes += 1
        if flushes == 1:
            held.set()
            await release.wait()
        return await flush(self, writes)

    monkeypatch.setattr(Writer, "flush", held_first_flush)
    async with quick_router(settings) as router:
        async with _running(router):
            await _submit_each(settings, [value])
            await _until(held.is_set, "the first copy's back waits")
            # The sender's outbox re-submits before the first copy is acknowledged.
            await _submit_each(settings, [value, value])
            await _until(lambda: router.stats.handled == 3, "the re-submissions decided")
            release.set()
            await _until(lambda: router.stats.committed == 3, "every offset committed")
        assert router.stats.retries == 2
    inbox = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert _document_ids(inbox) == [package.document_id]


async def test_a_failed_batch_in_flight_rewinds_every_batch_not_committed(
    settings: Settings, signer_for: Callable[[str], Signer], monkeypatch: pytest.MonkeyPatch
) -> None:
    packages = [document(SENDER, [RECIPIENT]) for _ in range(10)]
    values = [signed(p, signer_for(SENDER)) for p in packages]
    held = asyncio.Event()
    release = asyncio.Event()
    flushes = 0
    flush = Writer.flush

    async def second_flush_fails(self: Writer, writes: BatchWrites) -> list[Delivery]:
        nonlocal flushes
        flushes += 1
        if flushes == 1:
            held.set()
            await release.wait()
        elif flushes == 2:
            release.set()  # the first batch is acknowledged and committed; this one fails
            await flush(self, writes)
            raise BrokerUnavailableError("the broker went away")
        return await flush(self, writes)

    monkeypatch.setattr(Writer, "flush", second_flush_fails)
    async with quick_router(settings) as router, _running(router):
        await _submit_each(settings, values[:1])
        await _until(held.is_set, "the first batch's back waits")
        await _submit_each(settings, values[1:])
        await _until(lambda: router.stats.failed_batches == 1, "the failure met")
        await _until(
            lambda: router.stats.committed >= len(values),
            "every offset committed at last",
        )
    inbox = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    # At least once, and in order: the copies written before the failure may be
    # written again, but the first copy of each document comes in submission order.
    assert _first_occurrences(_document_ids(inbox)) == [p.document_id for p in packages]
    await _nothing_left(settings)
