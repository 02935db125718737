"""End to end through the gateway, driven as the hub's SDK drives it.

A province's system sends a directive with attachments to a district and a commune
served by another system; that system fetches both, confirms them (the gateway sends
the signed 01s), sends its own 01 too (acknowledged, not sent twice) and reports 03;
the province sees the 01s and the 03s in ``getReceivedEdocList(status)`` and in
``getSentEdocList``; ``edx status`` agrees.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus import Settings
from edxml import Mode, StatusCode, build, make_attachment, new_status, parse
from signing import DevPki
from tests.agency_client.helpers import COMMUNE, DISTRICT, PROVINCE, make_document
from tests.fixtures.demo import clean_env, run_edx
from tests.gateway.harness import add_system, eventually, gateway_config, running_gateway
from tests.gateway.sdk import SdkClient
from tests.tracker.kafka_helpers import running_tracker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def test_a_directive_travels_province_to_district_and_commune(
    live_bus: Settings, dev_pki: DevPki, tmp_path: Path, db_url: str
) -> None:
    """Once with the gateway's database on SQLite, once on PostgreSQL."""
    config = gateway_config(tmp_path, db_url=db_url)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    add_system(config, "vp.huyen", [DISTRICT, COMMUNE], "secret-of-the-district")
    async with (
        running_tracker(live_bus),
        running_gateway(live_bus, config) as gw,
        httpx.AsyncClient(timeout=60) as http,
    ):
        province = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
        district = SdkClient(http, f"{gw.url}/vxp", "vp.huyen", "secret-of-the-district")
        directive = make_document(
            PROVINCE,
            [DISTRICT, COMMUNE],
            subject="Chỉ thị về phòng chống bão",
            attachments=[
                make_attachment("chi-thi.pdf", b"%PDF-1.7 directive"),
                make_attachment("phu-luc.docx", b"annex bytes"),
            ],
        )
        unsigned = build(directive)

        # The SDK resends sendEdoc on its own: the same DocId, one document.
        province.resend_send = True
        sent = await province.send_edoc(unsigned)
        assert sent["status"] == "OK", sent
        province.resend_send = False
        again = await province.send_edoc(unsigned)
        assert again["DocId"] == sent["DocId"]

        async def two_items() -> list[dict[str, Any]] | None:
            items = await district.received("edoc")
            return items if len(items) == 2 else None

        items = await eventually(two_items, what="the directive in both inboxes")
        assert {i["to"] for i in items} == {DISTRICT, COMMUNE}
        assert {i["from"] for i in items} == {PROVINCE}
        assert len({i["docId"] for i in items}) == 2  # one receiver id per recipient
        for item in items:
            assert item["status"] == "initial"
            assert all(isinstance(v, str) for v in item.values())

        for item in items:
            data = await district.get_edoc(item["docId"])
            raw = await district.call("downloadEdoc", {"docId": item["docId"]}, method="GET")
            assert raw.status_code == 200
            assert raw.content == data  # base64 and the raw stream carry the same bytes
            package = parse(data, mode=Mode.STRICT).package
            assert package.document_id == directive.document_id
            assert b"<ds:Signature" in data or b"Signature" in data  # signed in custody
            ok = await district.update_status(item["docId"], "done")
            assert ok["status"] == "OK", ok
            # a repeat of the same terminal state is harmless; a change is a conflict
            assert (await district.update_status(item["docId"], "DONE"))["status"] == "OK"
            refused = await district.update_status(item["docId"], "fail")
            assert refused["ErrorCode"] == "409"
        assert await district.received("edoc") == []
        counted = await district.json("countReceiveEdoc", body=b"{}")
        assert counted["count"] == 0

        # The district's software sends its own 01 as well: acknowledged, not sent twice.
        own_arrival = build(new_status(DISTRICT, directive, StatusCode.ARRIVED, "Đã đến"))
        answer = await district.send_edoc(own_arrival, messagetype="status")
        assert answer["status"] == "OK", answer
        for agency in (DISTRICT, COMMUNE):
            accepted = build(new_status(agency, directive, StatusCode.ACCEPTED, "Đã tiếp nhận"))
            answer = await district.send_edoc(accepted, messagetype="status", sender=agency)
            assert answer["status"] == "OK", answer

        async def statuses() -> list[dict[str, Any]] | None:
            items = await province.received("status")
            found = {(i["from"], await _code(province, i["docId"])) for i in items}
            wanted = {(DISTRICT, "01"), (COMMUNE, "01"), (DISTRICT, "03"), (COMMUNE, "03")}
            return items if wanted <= found else None

        status_items = await eventually(statuses, what="the 01s and 03s at the province")
        # statuses of one sender share a partition, in order: the 03s came after any 01
        assert len(status_items) == 4
        for item in status_items:
            assert (await province.update_status(item["docId"], "done"))["status"] == "OK"
        assert await province.received("status") == []

        rows = (await province.json("getSentEdocList", {"docId": sent["DocId"]}))["data"]
        assert {r["toCode"] for r in rows} == {DISTRICT, COMMUNE}
        assert {r["receiverDocId"] for r in rows} == {i["docId"] for i in items}
        for row in rows:
            assert row["senderDocId"] == sent["DocId"]
            assert row["fromCode"] == PROVINCE
            assert row["sendStatus"] == "done"
            assert row["receiveStatus"] == "done"
            assert row["receivedTime"]
            assert row["title"] == "Chỉ thị về phòng chống bão"
            assert all(isinstance(v, str) for v in row.values())

        # edx status (the tracker) agrees: both recipients at 03
        async def tracked() -> dict[str, Any] | None:
            done = await asyncio.to_thread(
                run_edx,
                "status",
                directive.document_id,
                "--json",
                "--db-url",
                live_bus.resolved_db_url,
                cwd=tmp_path,
                env=clean_env(),
            )
            if done.returncode != 0:
                return None
            answer: dict[str, Any] = json.loads(done.stdout)
            codes = {r["recipient"]: r["status"] for r in answer["recipients"]}
            return answer if codes == {DISTRICT: "03", COMMUNE: "03"} else None

        await eventually(tracked, what="edx status showing 03 for both recipients")


async def _code(client: SdkClient, doc_id: str) -> str:
    package = parse(await client.get_edoc(doc_id), mode=Mode.STRICT).package
    return str(getattr(package, "status_code", ""))
