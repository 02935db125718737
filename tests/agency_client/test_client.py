"""The client's refusals and its recovery of what a crash left in the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from agency_client import (
    AgencyClient,
    ClientNotStartedError,
    IncomingDocument,
    NotAuthorisedError,
    Outbox,
    OutboxState,
    StatusNotAllowedError,
    UnknownDocumentError,
)
from bus.records import content_digest
from bus.settings import Settings
from edxml import build
from signing import DevPki
from tests.agency_client.helpers import COMMUNE, DISTRICT, PROVINCE, make_document, take


async def test_a_client_not_started_says_so(exchange_settings: Settings) -> None:
    client = AgencyClient(exchange_settings, PROVINCE)
    with pytest.raises(ClientNotStartedError):
        await client.send(make_document(PROVINCE, [DISTRICT]))
    with pytest.raises(ClientNotStartedError):
        client.receive()


async def test_an_agency_without_its_key_cannot_act(exchange_settings: Settings) -> None:
    with pytest.raises(NotAuthorisedError) as missing:
        await AgencyClient(exchange_settings, "000.77.77.H44").start()
    assert missing.value.agency == "000.77.77.H44"
    assert "does not exist" in str(missing.value)


async def test_a_certificate_of_another_agency_cannot_act(
    exchange_settings: Settings, agency_pki: DevPki
) -> None:
    key, cert = exchange_settings.agency_key_paths(DISTRICT)
    client = AgencyClient(exchange_settings, PROVINCE, key_path=key, cert_path=cert)
    with pytest.raises(NotAuthorisedError) as refused:
        await client.start()
    assert DISTRICT in str(refused.value)


@pytest.mark.kafka
async def test_refusals_before_anything_leaves_the_agency(inbox_topics: Settings) -> None:
    async with AgencyClient(inbox_topics, DISTRICT) as district:
        with pytest.raises(StatusNotAllowedError):
            await district.report("any", "01")
        with pytest.raises(StatusNotAllowedError):
            await district.report("any", "13")
        with pytest.raises(UnknownDocumentError):
            await district.report("000.00.00.H44,2026/01/01,1/X", "03")
        with pytest.raises(UnknownDocumentError):
            await district.take_back("000.00.24.H44,2026/01/01,1/X")
        with pytest.raises(NotAuthorisedError):  # a document in another agency's name
            await district.send(make_document(PROVINCE, [COMMUNE]))
        assert district.pending() == []


@pytest.mark.kafka
@pytest.mark.slow
async def test_what_a_crash_left_unpublished_goes_out_when_the_client_starts(
    live_bus: Settings, agency_pki: DevPki, tmp_path: Path
) -> None:
    settings = live_bus
    package = make_document(PROVINCE, [DISTRICT], subject="Trước khi sập nguồn")
    signed = agency_pki.signer(PROVINCE).sign(build(package))
    # The process wrote the outbox and died before publishing.
    with Outbox(settings.outbox_path(PROVINCE)) as outbox:
        outbox.add_document(package.document_id, signed, content_digest(signed), [DISTRICT])

    async with AgencyClient(settings, PROVINCE) as province:
        async with AgencyClient(settings, DISTRICT) as district:
            item = await take(district)
            assert isinstance(item, IncomingDocument)
            assert item.data == signed
        entry = await province.wait_delivered(package.document_id, timeout=30)
        assert entry.state is OutboxState.DELIVERED
        assert entry.submit_count == 1
