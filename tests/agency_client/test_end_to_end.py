"""End to end on the real broker with a running router: four agencies, three levels.

A province sends one document to a department, a district and a commune; each
receives the exact bytes, verified; 01 comes back to the sender on its own, then
03, 04, 05 and 06 from every recipient. A revocation and a take-back are
answered with 15/16. A re-submission of the same bytes reaches nobody twice;
other bytes under an accepted DocumentId are refused and the sender told.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from agency_client import (
    AgencyClient,
    DuplicateDocumentError,
    IncomingDocument,
    IncomingStatus,
    OutboxState,
    RejectionNotice,
    SubmissionRejectedError,
)
from bus.settings import Settings
from edxml import Attachment, BusinessDocType, StatusCode, build
from signing import DevPki
from tests.agency_client.helpers import (
    ALL_AGENCIES,
    COMMUNE,
    DEPARTMENT,
    DISTRICT,
    PROVINCE,
    delivery_headers,
    make_document,
    produce,
    register_agencies,
    running_router,
    take,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RECIPIENTS = (DEPARTMENT, DISTRICT, COMMUNE)
PROGRESS = ("03", "04", "05", "06")


async def _statuses_seen(client: AgencyClient, count: int) -> list[IncomingStatus]:
    seen: list[IncomingStatus] = []
    while len(seen) < count:
        item = await take(client)
        assert isinstance(item, IncomingStatus), item
        seen.append(item)
    return seen


async def test_a_province_document_reaches_three_levels_and_every_status_comes_back(
    live_bus: Settings, dev_pki: DevPki
) -> None:
    settings = live_bus
    attachment = Attachment.from_bytes("chi-thi.txt", "Chỉ thị số 12".encode() * 200)
    package = make_document(
        PROVINCE, RECIPIENTS, subject="Chỉ thị về phòng chống lụt bão", attachments=[attachment]
    )
    async with (
        AgencyClient(settings, PROVINCE) as province,
        AgencyClient(settings, DEPARTMENT) as department,
        AgencyClient(settings, DISTRICT) as district,
        AgencyClient(settings, COMMUNE) as commune,
    ):
        receivers = {DEPARTMENT: department, DISTRICT: district, COMMUNE: commune}
        doc_id = await province.send(package)
        assert doc_id == package.document_id
        sent_bytes = province.sent(doc_id).data

        for code, client in receivers.items():
            item = await take(client)
            assert isinstance(item, IncomingDocument)
            assert item.data == sent_bytes, f"{code} did not get the exact bytes"
            assert item.verified.agency_code == PROVINCE
            assert item.package.subject == package.subject
            assert item.package.attachments[0].data == attachment.data

        delivered = await province.wait_delivered(doc_id, timeout=30)
        assert delivered.state is OutboxState.DELIVERED
        assert delivered.arrived == frozenset(RECIPIENTS)

        for code in PROGRESS:
            for client in receivers.values():
                await client.report(doc_id, code, f"bước {code}")
            await province.wait_for_status(doc_id, code, timeout=30)

        # The province's application saw every status, per recipient in order.
        statuses = await _statuses_seen(province, len(RECIPIENTS) * (1 + len(PROGRESS)))
        for recipient in RECIPIENTS:
            codes = [s.status_code.value for s in statuses if s.sender == recipient]
            assert codes == ["01", *PROGRESS]
            assert all(s.document_id == doc_id for s in statuses)
        assert province.pending() == []


async def test_revocation_take_back_update_and_replacement(
    live_bus: Settings, dev_pki: DevPki
) -> None:
    settings = live_bus
    first = make_document(PROVINCE, [DISTRICT, COMMUNE], subject="Văn bản sẽ bị thu hồi")
    second = make_document(PROVINCE, [DISTRICT, COMMUNE], subject="Văn bản xin lấy lại")
    async with (
        AgencyClient(settings, PROVINCE, hand_over_statuses=False) as province,
        AgencyClient(settings, DISTRICT) as district,
        AgencyClient(settings, COMMUNE) as commune,
    ):
        for package in (first, second):
            await province.send(package)
        for client in (district, commune):
            for _ in range(2):
                assert isinstance(await take(client), IncomingDocument)
        await province.wait_delivered(first.document_id, timeout=30)
        await province.wait_delivered(second.document_id, timeout=30)

        # Revocation: a new package (BussinessDocType 1) naming the first document.
        revocation_id = await province.revoke(first.document_id, "Ban hành nhầm")
        assert revocation_id != first.document_id
        for client, answer in ((district, "15"), (commune, "16")):
            item = await take(client)
            assert isinstance(item, IncomingDocument)
            assert item.package.business.doc_type is BusinessDocType.REVOCATION
            assert item.package.business.document_id == first.document_id
            await client.report(revocation_id, answer, "Đồng ý" if answer == "15" else "Từ chối")
        await province.wait_delivered(revocation_id, timeout=30)
        await province.wait_for_status(revocation_id, "15", timeout=30, recipients=[DISTRICT])
        await province.wait_for_status(revocation_id, "16", timeout=30, recipients=[COMMUNE])

        # Take-back: status 13 from the sender reaches every recipient, who answer.
        await province.take_back(second.document_id, "Xin lấy lại để sửa")
        for client, answer in ((district, "15"), (commune, "15")):
            item = await take(client)
            assert isinstance(item, IncomingStatus)
            assert item.status_code is StatusCode.TAKE_BACK
            assert item.sender == PROVINCE
            assert item.document_id == second.document_id
            await client.report(second.document_id, answer, "Đồng ý trả lại")
        answers = await province.wait_for_status(second.document_id, "15", timeout=30)
        assert {s.recipient for s in answers} == {DISTRICT, COMMUNE}

        # Update and replacement: new packages (2 and 3) naming the document they change.
        update_id = await province.update(
            second.document_id, "Sửa thời gian họp", subject="Văn bản đã sửa thời gian"
        )
        replacement_id = await province.replace(second.document_id, "Thay bằng văn bản mới")
        assert len({update_id, replacement_id, second.document_id}) == 3
        for client in (district, commune):
            kinds = {}
            for _ in range(2):
                item = await take(client)
                assert isinstance(item, IncomingDocument)
                assert item.package.business.document_id == second.document_id
                kinds[item.document_id] = item.package.business.doc_type
            assert kinds == {
                update_id: BusinessDocType.UPDATE,
                replacement_id: BusinessDocType.REPLACEMENT,
            }
        await province.wait_delivered(update_id, timeout=30)
        await province.wait_delivered(replacement_id, timeout=30)


async def test_a_resubmission_delivers_nothing_twice_and_other_bytes_are_refused(
    live_bus: Settings, dev_pki: DevPki
) -> None:
    settings = live_bus
    package = make_document(PROVINCE, [DISTRICT])
    async with AgencyClient(settings, PROVINCE, resubmit_after=0.5) as province:
        doc_id = await province.send(package)
        # No one reads the district's inbox yet: the province re-submits the same bytes.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while province.sent(doc_id).submit_count < 3:
            assert loop.time() < deadline, "the outbox did not re-submit"
            await asyncio.sleep(0.2)

        async with AgencyClient(settings, DISTRICT) as district:
            item = await take(district)
            assert item.document_id == doc_id
            extra = [i async for i in district.receive(idle_timeout=3)]
            assert extra == []  # delivered once, whatever the number of submissions
        await province.wait_delivered(doc_id, timeout=30)

        # Other bytes under the same DocumentId: a replay. The outbox refuses it
        # locally; bytes sent from elsewhere under this agency's name are refused
        # by the router, and this client hears of it.
        altered = replace(package, subject="Nội dung đã bị sửa")
        with pytest.raises(DuplicateDocumentError):
            await province.send(altered)
        forged = dev_pki.signer(PROVINCE).sign(build(altered))
        await produce(
            settings,
            settings.topics.submit,
            forged,
            key=PROVINCE,
            headers=delivery_headers("document", doc_id, PROVINCE, forged),
        )
        notice = await take(province)
        while not isinstance(notice, RejectionNotice):
            notice = await take(province)
        assert notice.reason_code == "replay"
        assert notice.document_id == doc_id
        assert notice.data == forged
        assert not notice.in_outbox
        assert isinstance(notice.error(), SubmissionRejectedError)
        # The accepted document is untouched.
        assert province.sent(doc_id).state is OutboxState.DELIVERED


async def test_a_nine_megabyte_scan_travels_when_large_attachments_are_on(
    inbox_topics: Settings, dev_pki: DevPki
) -> None:
    """Over libxml2's text-node cap: signed by the sender, verified and parsed by the
    router and the recipient, byte for byte, once ``large_attachments`` is set."""
    settings = inbox_topics.with_values(large_attachments=True)
    await register_agencies(settings, dev_pki, ALL_AGENCIES)
    scan = Attachment.from_bytes("ban-scan.pdf", bytes(range(256)) * 35_000)  # 8.96 MB
    package = make_document(PROVINCE, (DISTRICT,), subject="Hồ sơ quét", attachments=[scan])
    async with (
        running_router(settings),
        AgencyClient(settings, PROVINCE) as province,
        AgencyClient(settings, DISTRICT) as district,
    ):
        doc_id = await province.send(package)
        item = await take(district, within=60)
        assert isinstance(item, IncomingDocument)
        assert item.document_id == doc_id
        assert item.package.attachments[0].data == scan.data
        await province.wait_delivered(doc_id, timeout=60)
