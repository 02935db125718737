"""Re-submissions are cheap, and a copy the router cannot vouch for is written again.

A sender's outbox re-submits a document until every recipient answers; the answers
(status 01 and the like) travel the same ``edx.submit``. If every retry cost a
full verification and inbox reads, the answers that stop the retries would wait
behind them. A retry of bytes already accepted and delivered is therefore settled
by its digest, without verifying the signature again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.acceptance import AcceptanceStore
from bus.kafka import make_producer, started
from bus.records import content_digest
from bus.settings import Settings
from bus.verification import PackageReader
from edxml import Mode, StatusCode
from signing import (
    ReadPackage,
    Signer,
    TrustStore,
    VerificationPolicy,
    VerifiedPackage,
    Verifier,
)
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_topic,
    register,
    route,
    signed,
    status,
    submit,
)

pytestmark = pytest.mark.kafka

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
RETRIES = 40


class CountingVerifier(Verifier):
    """The real verifier, counting how often it is asked."""

    calls = 0

    def verify(self, data: bytes, *, at: datetime | None = None) -> VerifiedPackage:
        type(self).calls += 1
        return super().verify(data, at=at)

    def read(
        self,
        data: bytes,
        *,
        mode: Mode = Mode.STRICT,
        agency_pattern: str | None = None,
        at: datetime | None = None,
    ) -> ReadPackage:
        type(self).calls += 1  # verification and parse in one (the router's path)
        return super().read(data, mode=mode, agency_pattern=agency_pattern, at=at)


@pytest.fixture
async def settings(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> Settings:
    configured = bus_settings.with_overrides(pki=pki_dir)
    await register(configured, signer_for, [SENDER, RECIPIENT])
    return configured


def _counting(settings: Settings) -> PackageReader:
    """What ``bus.make_reader`` builds, its verifier counting."""
    crl = settings.resolved_crl
    trust = TrustStore.from_directory(settings.resolved_trust, [crl] if crl else [])
    CountingVerifier.calls = 0
    verifier = CountingVerifier(trust, VerificationPolicy(), limits=settings.packages.limits)
    return PackageReader(verifier, settings.packages.agency_pattern)


async def test_retries_of_a_delivered_package_are_not_verified_again(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    package = document(SENDER, [RECIPIENT])
    data = signed(package, signer_for(SENDER))
    reader = _counting(settings)
    await submit(settings, data, sender=SENDER)
    async with quick_router(settings, reader=reader) as router:
        await route(router, 1)
        async with started(make_producer(settings, linger_ms=20)) as producer:
            sent = [
                await producer.send(settings.topics.submit, data, key=SENDER.encode())
                for _ in range(RETRIES)
            ]
            await asyncio.gather(*sent)
        answer = signed(status(RECIPIENT, package, StatusCode.ARRIVED), signer_for(RECIPIENT))
        await submit(settings, answer, sender=RECIPIENT, kind="status")
        await route(router, RETRIES + 2)
    assert router.stats.retries == RETRIES
    assert CountingVerifier.calls == 2  # the document once, its answer once
    assert [r.value for r in await read_topic(settings, settings.topics.inbox(RECIPIENT))] == [data]
    statuses = await read_topic(settings, settings.topics.inbox(SENDER))
    assert [r.value for r in statuses] == [answer]


async def test_a_retry_rewrites_a_copy_recorded_without_its_position(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    # A store that remembers the delivery but not where it landed (rows written
    # before positions were kept, or a broker that lost the copy): the router
    # cannot vouch for the copy, so the sender's retry writes it again.
    package = document(SENDER, [RECIPIENT])
    data = signed(package, signer_for(SENDER))
    now = datetime.now(UTC)
    with AcceptanceStore(settings.resolved_router_db_url) as store:
        store.accept(SENDER, package.document_id, content_digest(data), [RECIPIENT], now=now)
        store.mark_delivered([(SENDER, package.document_id, RECIPIENT)], now=now)
    await submit(settings, data, sender=SENDER)
    async with quick_router(settings) as router:
        await route(router, 1)
    assert [r.value for r in await read_topic(settings, settings.topics.inbox(RECIPIENT))] == [data]
    assert router.stats.delivered == 1


def test_copy_memory_is_bounded_and_forgets_on_request() -> None:
    from bus.router.inboxes import CopyMemory

    memory = CopyMemory(limit=3)
    for offset in range(5):
        memory.remember("inbox", 0, offset, f"d{offset}")
    assert len(memory) == 3
    assert not memory.holds("inbox", 0, 0, "d0")  # the oldest went first
    assert memory.holds("inbox", 0, 4, "d4")
    assert not memory.holds("inbox", 0, 4, "other")  # another package at that offset
    memory.forget()
    assert len(memory) == 0
