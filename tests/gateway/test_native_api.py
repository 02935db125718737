"""The native API end to end: sends (raw and fields), the inbox, statuses, follow-ups,
idempotency keys, replay protection and problem details."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus import Settings
from edxml import Mode, build, parse
from gateway.api_auth import RequestSigner
from tests.agency_client.helpers import COMMUNE, DISTRICT, PROVINCE, make_document
from tests.gateway.harness import add_system, eventually, gateway_config, running_gateway
from tests.gateway.native import NativeClient

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["reason_code"] == reason, body
    assert body["type"].endswith(reason)
    assert "Traceback" not in body["detail"]
    return body


async def test_send_receive_report_and_follow_up(live_bus: Settings, tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    add_system(config, "vp.huyen", [DISTRICT, COMMUNE], "secret-of-the-district")
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        province = NativeClient(http, gw.url, RequestSigner("vp.tinh", "secret-of-the-province"))
        district = NativeClient(http, gw.url, RequestSigner("vp.huyen", "secret-of-the-district"))

        # fields + attachments, with an idempotency key sent twice
        fields = {
            "sender": PROVINCE,
            "recipients": [DISTRICT, COMMUNE],
            "number": "77",
            "notation": "CT-UBND",
            "subject": "Chỉ thị về phòng chống bão",
            "signer_name": "Nguyễn Văn A",
        }
        files = [("chi-thi.pdf", b"%PDF-1.7 directive", "application/pdf")]
        first = await province.send_fields(fields, files, key="send-77")
        assert first.status_code == 201, first.text
        again = await province.send_fields(fields, files, key="send-77")
        assert again.json()["doc_id"] == first.json()["doc_id"]
        assert again.json()["repeated"] is True
        _problem(
            await province.send_xml(build(make_document(PROVINCE, [DISTRICT])), key="send-77"),
            409,
            "conflict",
        )
        sent = first.json()
        assert sent["signed_here"] is True
        assert sorted(sent["recipients"]) == sorted([DISTRICT, COMMUNE])

        # raw EDXML
        raw = await province.send_xml(build(make_document(PROVINCE, [DISTRICT])))
        assert raw.status_code == 201, raw.text

        async def three() -> list[dict[str, Any]] | None:
            items = (await district.get("/inbox?message_type=edoc")).json()
            return items if len(items) == 3 else None

        items = await eventually(three, what="three deliveries at the district's system")
        directive = next(
            i for i in items if i["document_id"] == sent["document_id"] and i["agency"] == DISTRICT
        )
        fetched = await district.get(f"/inbox/{directive['doc_id']}")
        assert fetched.headers["content-type"].startswith("application/xml")
        package = parse(fetched.content, mode=Mode.STRICT).package
        assert [a.name for a in package.attachments] == ["chi-thi.pdf"]

        for item in items:
            ack = await district.write(f"/inbox/{item['doc_id']}/ack")
            assert ack.json() == {"doc_id": item["doc_id"], "state": "done"}
        reported = await district.write(
            f"/inbox/{directive['doc_id']}/status", {"code": "03", "description": "Đã tiếp nhận"}
        )
        assert reported.status_code == 201, reported.text
        _problem(
            await district.write(f"/inbox/{directive['doc_id']}/status", {"code": "01"}),
            400,
            "bad-request",
        )
        assert (await district.get("/inbox")).json() == []

        async def answered() -> dict[str, Any] | None:
            view = (await province.get(f"/documents/{sent['doc_id']}")).json()
            codes = {(s["recipient"], s["status_code"]) for s in view["statuses"]}
            wanted = {(DISTRICT, "01"), (COMMUNE, "01"), (DISTRICT, "03")}
            return view if wanted <= codes else None

        view = await eventually(answered, what="the 01s and the 03 at the province")
        assert {d["receive_status"] for d in view["deliveries"]} == {"done"}

        revoked = await province.write(
            f"/documents/{sent['doc_id']}/revoke", {"reason": "Ban hành nhầm"}
        )
        assert revoked.status_code == 201, revoked.text
        assert revoked.json()["document_id"] != sent["document_id"]
        taken = await province.write(
            f"/documents/{sent['doc_id']}/take-back", {"description": "Thu hồi"}
        )
        assert taken.status_code == 201, taken.text
        assert taken.json()["message_type"] == "status"
        _problem(await district.get(f"/documents/{sent['doc_id']}"), 404, "not-found")

        directory = (await district.get("/directory")).json()
        assert {PROVINCE, DISTRICT, COMMUNE} <= {a["code"] for a in directory}


async def test_replays_and_unsigned_requests_are_refused(
    live_bus: Settings, tmp_path: Path
) -> None:
    config = gateway_config(tmp_path, max_upload_bytes=32 * 1024)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    signer = RequestSigner("vp.tinh", "secret-of-the-province")
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        url = f"{gw.url}/api/v1/inbox"
        headers = signer.headers("GET", "/api/v1/inbox")
        assert (await http.get(url, headers=headers)).status_code == 200
        _problem(await http.get(url, headers=headers), 401, "replayed-request")
        old = signer.headers("GET", "/api/v1/inbox", timestamp=1_000_000_000)
        _problem(await http.get(url, headers=old), 401, "stale-request")
        _problem(await http.get(url), 401, "authentication-failed")
        wrong = RequestSigner("vp.tinh", "not-the-secret").headers("GET", "/api/v1/inbox")
        _problem(await http.get(url, headers=wrong), 401, "authentication-failed")
        # the signature covers the path: a signed inbox read is not a directory read
        moved = signer.headers("GET", "/api/v1/inbox")
        _problem(
            await http.get(f"{gw.url}/api/v1/directory", headers=moved),
            401,
            "authentication-failed",
        )
        # and the body: a tampered write is refused
        body = build(make_document(PROVINCE, [DISTRICT]))
        signed = signer.headers("POST", "/api/v1/documents", body)
        signed.update({"Content-Type": "application/xml", "Idempotency-Key": "k1"})
        _problem(
            await http.post(
                f"{gw.url}/api/v1/documents",
                headers=signed,
                content=body.replace(b"UBND-VP", b"UBND-XX"),
            ),
            401,
            "authentication-failed",
        )
        native = NativeClient(http, gw.url, signer)
        _problem(
            await native.request("POST", "/documents", body=body, content_type="application/xml"),
            400,
            "bad-request",
        )
        big = build(make_document(PROVINCE, [DISTRICT], content="x" * 40_000))
        _problem(await native.send_xml(big), 413, "upload-too-large")
        foreign = build(make_document(DISTRICT, [PROVINCE]))
        _problem(await native.send_xml(foreign), 403, "not-permitted")
        openapi = (await http.get(f"{gw.url}/api/v1/openapi.json")).json()
        assert openapi["openapi"].startswith("3.1")
        assert json.dumps(openapi)  # a plain JSON document
