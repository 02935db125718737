"""The receiving side on a real broker: records are written into an inbox as the router does.

These tests pin the client's half of DESIGN.md §6 without a router: verify,
hand over, record, answer 01 with the same bytes every time, commit; and keep
back (never drop) what does not verify or is not addressed to the agency.
"""

from __future__ import annotations

import pytest

from agency_client import AgencyClient, InboxItem, IncomingDocument
from bus.records import Header, decode_headers
from bus.settings import Settings
from edxml import Mode, StatusCode, StatusPackage, build, new_status, parse
from signing import DevPki
from tests.agency_client.helpers import (
    COMMUNE,
    DISTRICT,
    PROVINCE,
    deliver,
    make_document,
    read_records,
)

pytestmark = pytest.mark.kafka


def _signed(dev_pki: DevPki, sender: str, recipients: list[str]) -> tuple[str, bytes]:
    package = make_document(sender, recipients)
    return package.document_id, dev_pki.signer(sender).sign(build(package))


async def _handed_over_on_restart(settings: Settings, agency: str) -> list[InboxItem]:
    """What a new client of ``agency`` hands over (same outbox file, committed offset)."""
    async with AgencyClient(settings, agency) as client:
        return [item async for item in client.receive(idle_timeout=2)]


def _is_status_from(agency: str):
    return lambda r: decode_headers(r.headers).get(Header.SENDER) == agency


async def test_a_document_is_handed_over_once_and_answered_with_01(
    inbox_topics: Settings, dev_pki: DevPki
) -> None:
    settings = inbox_topics
    doc_id, data = _signed(dev_pki, PROVINCE, [DISTRICT])
    await deliver(settings, DISTRICT, PROVINCE, doc_id, data)
    await deliver(settings, DISTRICT, PROVINCE, doc_id, data)  # a retry: the same bytes

    async with AgencyClient(settings, DISTRICT) as client:
        items = [item async for item in client.receive(idle_timeout=3)]
    assert len(items) == 1
    (item,) = items
    assert isinstance(item, IncomingDocument)
    assert item.data == data
    assert item.document_id == doc_id
    assert item.sender == PROVINCE
    assert item.verified.agency_code == PROVINCE

    # The 01 went to edx.submit, signed by the district, answering the document;
    # the duplicate made the client send the very same 01 bytes again.
    records = await read_records(
        settings, settings.topics.submit, count=2, match=_is_status_from(DISTRICT)
    )
    assert len({r.value for r in records}) == 1
    status = parse(records[0].value, mode=Mode.TOLERANT).package
    assert isinstance(status, StatusPackage)
    assert status.status_code is StatusCode.ARRIVED
    assert status.response_for.document_id == doc_id
    assert status.sender_code == DISTRICT

    # A restarted client (same outbox file, committed offset) hands over nothing again.
    assert await _handed_over_on_restart(settings, DISTRICT) == []


async def test_an_unsettled_package_is_handed_over_again_after_a_crash(
    inbox_topics: Settings, dev_pki: DevPki
) -> None:
    settings = inbox_topics
    doc_id, data = _signed(dev_pki, PROVINCE, [COMMUNE])
    await deliver(settings, COMMUNE, PROVINCE, doc_id, data)

    client = AgencyClient(settings, COMMUNE)
    await client.start()
    inbox = client.receive(idle_timeout=5)
    first = await inbox.__anext__()
    assert first.document_id == doc_id
    await client.stop(settle=False)  # the application died while handling it

    async with AgencyClient(settings, COMMUNE) as client:
        items = [item async for item in client.receive(idle_timeout=3)]
    assert [i.document_id for i in items] == [doc_id]
    records = await read_records(
        settings, settings.topics.submit, count=1, match=_is_status_from(COMMUNE)
    )
    assert len(records) == 1


async def test_tampered_and_misaddressed_packages_are_kept_back_with_their_reason(
    inbox_topics: Settings, dev_pki: DevPki
) -> None:
    settings = inbox_topics
    doc_id, data = _signed(dev_pki, PROVINCE, [DISTRICT])
    tampered = data.replace("Về việc".encode(), b"Ve viec", 1)
    assert tampered != data
    await deliver(settings, DISTRICT, PROVINCE, doc_id, tampered)
    other_id, other = _signed(dev_pki, PROVINCE, [COMMUNE])
    await deliver(settings, DISTRICT, PROVINCE, other_id, other)  # addressed to the commune
    await deliver(settings, DISTRICT, PROVINCE, doc_id + "x", b"<not-xml")

    async with AgencyClient(settings, DISTRICT) as client:
        items = [item async for item in client.receive(idle_timeout=3)]
        kept = client.quarantined()
    assert items == []
    reasons = {q.document_id: q.reason_code for q in kept}
    assert reasons[doc_id] == "digest-mismatch"
    assert reasons[other_id] == "misaddressed"
    assert doc_id + "x" in reasons
    assert {q.data for q in kept} >= {tampered, other}


async def test_batches_hand_over_every_document_once_and_answer_each_with_01(
    inbox_topics: Settings, dev_pki: DevPki
) -> None:
    settings = inbox_topics
    sent = dict(_signed(dev_pki, PROVINCE, [DISTRICT]) for _ in range(6))
    for doc_id, data in sent.items():
        await deliver(settings, DISTRICT, PROVINCE, doc_id, data)
    first_id, first_data = next(iter(sent.items()))
    await deliver(settings, DISTRICT, PROVINCE, first_id, first_data)  # a retry

    async with AgencyClient(settings, DISTRICT) as client:
        async with client.receive(idle_timeout=3) as inbox:
            batches = [batch async for batch in inbox.batches(max_items=4)]
        commits, writes = client.store_commits()
    assert all(1 <= len(batch) <= 4 for batch in batches)
    taken = [item.document_id for batch in batches for item in batch]
    assert sorted(taken) == sorted(sent)  # each once, the retry recognised
    assert commits <= writes

    # 6 or 7 records: the retry is answered again unless it came in the first's batch.
    records = await read_records(
        settings, settings.topics.submit, count=7, within=5.0, match=_is_status_from(DISTRICT)
    )
    statuses = [parse(r.value, mode=Mode.TOLERANT).package for r in records]
    assert {s.response_for.document_id for s in statuses} == set(sent)

    # Settled and committed: a restarted client hands over nothing again.
    assert await _handed_over_on_restart(settings, DISTRICT) == []


async def test_statuses_read_in_one_batch_are_recorded_in_the_order_they_came(
    inbox_topics: Settings, dev_pki: DevPki
) -> None:
    settings = inbox_topics
    package = make_document(PROVINCE, [DISTRICT])
    async with AgencyClient(settings, PROVINCE) as client:
        await client.send(package)  # kept in the outbox (no router here)
    district = dev_pki.signer(DISTRICT)
    codes = ["01", "03", "04", "05", "06"]
    for code in codes:
        status = new_status(DISTRICT, package, StatusCode(code), f"status {code}")
        data = district.sign(build(status))
        await deliver(settings, PROVINCE, DISTRICT, package.document_id, data, kind="status")

    async with AgencyClient(settings, PROVINCE, hand_over_statuses=False) as client:
        await client.wait_for_status(package.document_id, "06", timeout=30)
        recorded = [s.status_code for s in client.statuses(package.document_id)]
    assert recorded == codes
