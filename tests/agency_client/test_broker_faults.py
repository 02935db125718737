"""The SDK under broker faults: a broker that comes back empty under running clients,
a producer that fails for good, and an application that does not read its inbox.

DESIGN.md §6: the outbox keeps every package until it is acknowledged, the dedup
store keeps every package from reaching an application twice, and the SDK's own
bookkeeping (01s settling the outbox, rejection notices) never waits for the
application.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from agency_client import AgencyClient, OutboxState, RejectionNotice
from bus import Settings
from bus.embedded import EmbeddedBroker, free_port
from bus.records import Header
from bus.topics import ensure_topics
from edxml import DocumentPackage, build
from signing import DevPki
from tests.agency_client.helpers import (
    ALL_AGENCIES,
    DISTRICT,
    PROVINCE,
    deliver,
    delivery_headers,
    documents_taken,
    make_document,
    produce,
    register_agencies,
    running_router,
    take,
)
from tests.fixtures.broker import topic_names, unique_name

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    """A broker of the test's own, which the test may restart (it comes back empty)."""
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log")
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


def _settings(tmp_path: Path, broker: EmbeddedBroker, pki: DevPki) -> Settings:
    prefix = unique_name()
    return Settings.of(
        home=tmp_path / "edx",
        bootstrap=broker.bootstrap,
        topics=topic_names(prefix),
        partitions=1,
        router_group=f"{prefix}-router",
        router_db_url=f"sqlite:///{tmp_path / 'router.db'}",
        pki=pki.directory,
    )


async def _deliver(settings: Settings, pki: DevPki, to: str, subject: str) -> str:
    """A document from the province written into ``to``'s inbox, as the router does."""
    package = make_document(PROVINCE, [to], subject=subject)
    data = pki.signer(PROVINCE).sign(build(package))
    await deliver(settings, to, PROVINCE, package.document_id, data)
    return package.document_id


async def _restart_empty(broker: EmbeddedBroker, settings: Settings) -> None:
    """Stop the broker and start it again on the same address with nothing in it."""
    await asyncio.to_thread(broker.stop)
    await asyncio.to_thread(broker.start)
    await ensure_topics(settings, agencies=ALL_AGENCIES)


@contextlib.asynccontextmanager
async def _district_that_took(
    tmp_path: Path, broker: EmbeddedBroker, pki: DevPki, *, documents: int
) -> AsyncIterator[tuple[Settings, AgencyClient, list[str]]]:
    """The district's client on ``broker`` once it took ``documents`` old ones (their ids)."""
    settings = _settings(tmp_path, broker, pki)
    await ensure_topics(settings, agencies=ALL_AGENCIES)
    old = [await _deliver(settings, pki, DISTRICT, f"Cũ {n}") for n in range(documents)]
    async with AgencyClient(settings, DISTRICT) as district:
        assert sorted(await documents_taken(district, set(old), within=30)) == sorted(old)
        yield settings, district, old


async def test_a_running_receiver_reads_again_an_inbox_its_broker_lost(
    tmp_path: Path, agency_pki: DevPki, own_broker: EmbeddedBroker
) -> None:
    async with _district_that_took(tmp_path, own_broker, agency_pki, documents=3) as (
        settings,
        district,
        old,
    ):
        # The position now stands at 3; the broker comes back empty and gets 2 records.
        await _restart_empty(own_broker, settings)
        new = await _deliver(settings, agency_pki, DISTRICT, "Mới")
        again = old[0]  # a copy of a document taken before: it must not come back
        data = district._require().store.received_document(again)
        assert data is not None
        await deliver(settings, DISTRICT, PROVINCE, again, data.data)
        assert await documents_taken(district, {new}, within=45) == [new]


async def test_a_receiver_notices_a_lost_inbox_that_already_grew_past_its_position(
    tmp_path: Path, agency_pki: DevPki, own_broker: EmbeddedBroker
) -> None:
    async with _district_that_took(tmp_path, own_broker, agency_pki, documents=2) as (
        settings,
        district,
        _,
    ):
        # The reader fetches nothing while the new broker's inbox grows past the old
        # position (2): its end alone cannot tell that the first records are new ones.
        consumer = district._require().connection.consumer
        inbox = TopicPartition(settings.topics.inbox(DISTRICT), 0)
        consumer.pause(inbox)
        await _restart_empty(own_broker, settings)
        new = [await _deliver(settings, agency_pki, DISTRICT, f"Mới {n}") for n in range(4)]
        consumer.resume(inbox)
        assert sorted(await documents_taken(district, set(new), within=45)) == sorted(new)


def _document(subject: str) -> DocumentPackage:
    return make_document(PROVINCE, [DISTRICT], subject=subject)


async def test_running_clients_lose_nothing_when_the_broker_restarts_empty(
    tmp_path: Path, agency_pki: DevPki, own_broker: EmbeddedBroker
) -> None:
    """send() never fails for the broker, and every document reaches its recipient once."""
    settings = _settings(tmp_path, own_broker, agency_pki)
    await ensure_topics(settings, agencies=ALL_AGENCIES)
    await register_agencies(settings, agency_pki, ALL_AGENCIES)
    sent: list[str] = []
    async with (
        AgencyClient(settings, PROVINCE, resubmit_after=2.0, publish_timeout=3.0) as province,
        AgencyClient(settings, DISTRICT) as district,
    ):
        async with running_router(settings):
            for n in range(3):
                sent.append(await province.send(_document(f"a{n}")))
            first = await documents_taken(district, set(sent), within=30)
            for doc_id in sent:
                await province.wait_delivered(doc_id, timeout=30)
        await asyncio.to_thread(own_broker.stop)
        for n in range(3):  # the broker is down: kept, not an error
            sent.append(await province.send(_document(f"b{n}")))
        await asyncio.to_thread(own_broker.start)
        for n in range(3):  # the broker is back, still without topics or directory
            sent.append(await province.send(_document(f"c{n}")))
        await ensure_topics(settings, agencies=ALL_AGENCIES)
        await register_agencies(settings, agency_pki, ALL_AGENCIES)
        async with running_router(settings):
            later = await documents_taken(district, set(sent[3:]), within=90)
            for doc_id in sent:
                await province.wait_delivered(doc_id, timeout=60)
    assert sorted(first + later) == sorted(sent), "each document reaches the district once"


async def test_a_producer_that_failed_for_good_is_replaced_and_the_package_goes_out(
    live_bus: Settings,
) -> None:
    settings = live_bus
    async with (
        AgencyClient(settings, PROVINCE, resubmit_after=1.0) as province,
        AgencyClient(settings, DISTRICT) as district,
    ):
        # A producer in a state aiokafka does not recover from (closed: ProducerClosed,
        # not retriable) - as after a broker restart that answered UnknownError.
        await province._require().connection.producer.stop()
        doc_id = await province.send(make_document(PROVINCE, [DISTRICT], subject="Giữ lại"))
        kept = province.sent(doc_id)
        assert kept.state is OutboxState.PENDING
        assert kept.submit_count == 0  # in the outbox, not published: no error for the caller
        item = await take(district, within=60)
        assert item.document_id == doc_id
        await province.wait_delivered(doc_id, timeout=60)


async def _reject_into(settings: Settings, agency: str, count: int) -> None:
    """``count`` rejection notices in ``agency``'s inbox, as a router writes them."""
    for n in range(count):
        data = f"<garbage {n}/>".encode()
        headers = {
            **delivery_headers("rejection", "", agency, data),
            Header.REASON_CODE: "not-edxml",
            Header.REASON: "not an EDXML package",
        }
        await produce(settings, settings.topics.inbox(agency), data, key=agency, headers=headers)


@pytest.mark.parametrize("hand_over_statuses", [False, True])
async def test_an_unread_inbox_does_not_stop_the_outbox_from_settling(
    live_bus: Settings, hand_over_statuses: bool
) -> None:
    settings = live_bus
    notices = 300  # more than the 256 packages the SDK queues for the application
    async with (
        AgencyClient(settings, PROVINCE, hand_over_statuses=hand_over_statuses) as province,
        AgencyClient(settings, DISTRICT) as district,
    ):
        await _reject_into(settings, PROVINCE, notices)
        doc_id = await province.send(make_document(PROVINCE, [DISTRICT], subject="Chờ 01"))
        assert (await take(district, within=60)).document_id == doc_id
        # The province's application has not read a thing; its 01 settles the outbox.
        await province.wait_delivered(doc_id, timeout=60)
        if hand_over_statuses:  # once read, every notice comes exactly once
            seen: list[str] = []
            async for item in province.receive(idle_timeout=5):
                if isinstance(item, RejectionNotice):
                    seen.append(item.digest)
            assert len(seen) == notices
            assert len(set(seen)) == notices
        else:
            assert [i async for i in province.receive(idle_timeout=3)] == []
