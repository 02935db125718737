"""Contract tests of /vxp: every operation as VXP_HTTP_API.md describes the SDK's requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus import Settings
from edxml import (
    DocumentPackage,
    Mode,
    StatusCode,
    StatusPackage,
    build,
    new_status,
    parse,
)
from gateway import SystemRegistry, open_gateway_engine, sdk_hash_file
from tests.agency_client.helpers import COMMUNE, DISTRICT, OTHER_PROVINCE, PROVINCE, make_document
from tests.gateway.harness import add_system, eventually, gateway_config, running_gateway
from tests.gateway.sdk import TIMESTAMP, SdkClient

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DEMO = ("edx.demo.01", "demo-secret-01")


def _is_plain(
    item: dict[str, Any], ints: tuple[str, ...] = (), bools: tuple[str, ...] = ()
) -> bool:
    """No field is null, an object or an array; ints and booleans where the SDK wants them."""
    for key, value in item.items():
        if key in ints:
            if not isinstance(value, int) or isinstance(value, bool):
                return False
        elif key in bools:
            if not isinstance(value, bool):
                return False
        elif not isinstance(value, str):
            return False
    return True


async def test_directory_operations(live_bus: Settings, tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    add_system(config, DEMO[0], [PROVINCE], DEMO[1])
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        sdk = SdkClient(http, f"{gw.url}/vxp", *DEMO)
        answer = await sdk.json("getAgenciesList")
        assert answer["ErrorCode"] == "0"
        codes = {a["code"] for a in answer["data"]}
        assert {PROVINCE, DISTRICT, COMMUNE, OTHER_PROVINCE} <= codes
        for item in answer["data"]:
            assert set(item) == {"id", "code", "name", "mail", "pid", "oldCode"}
            assert _is_plain(item)
        commune = next(a for a in answer["data"] if a["code"] == COMMUNE)
        assert commune["pid"] == DISTRICT

        level1 = await sdk.json("getAgenciesListQD20", {"level": "1"})
        assert {a["code"] for a in level1["data"]} >= {PROVINCE, OTHER_PROVINCE}
        assert DISTRICT not in {a["code"] for a in level1["data"]}
        for item in level1["data"]:
            assert set(item) == {"id", "code", "name", "mail", "code102"}

        # a fresh object: getSynchronizeUnit carries getAgenciesList's very signature
        fresh = SdkClient(http, f"{gw.url}/vxp/", *DEMO)  # endpoint ending in "/"
        sync = await fresh.json("getSynchronizeUnit")
        assert sync["ErrorCode"] == "0"
        for item in sync["data"]:
            assert _is_plain(item, ints=("version",), bools=("deleted", "isAgency"))
        province = next(a for a in sync["data"] if a["code"] == PROVINCE)
        assert province["centerCode"] == DEMO[0]
        assert province["deleted"] is False

        # register/delete are off unless a system is granted them; the vendor's body is bad JSON
        vendor_body = (
            b'{"id":"","pcode":"000.00.00.H44","code":"000.00.99.H44",'
            b'"name":"x","mail":cc"","mobile":"","fax":""}'
        )
        refused = await sdk.json("registerAgency", body=vendor_body)
        assert (refused["status"], refused["ErrorCode"]) == ("FAIL", "501")
        refused = await sdk.json("deleteAgency", {"AgencyCode": "000.00.99.H44"}, b"{}")
        assert (refused["status"], refused["ErrorCode"]) == ("FAIL", "501")

        unknown = await sdk.json("noSuchOperation")
        assert (unknown["status"], unknown["ErrorCode"]) == ("FAIL", "404")


async def test_the_documents_own_request_is_answered(live_bus: Settings, tmp_path: Path) -> None:
    """countReceiveEdoc exactly as printed in §7.12 (signature and all)."""
    config = gateway_config(tmp_path)
    add_system(config, DEMO[0], [PROVINCE], DEMO[1])
    signed = (
        '{"XroadVnpt-systemid":"edx.demo.01","XroadVnpt-timestamp":"29112026T103345+0585",'
        '"XroadVnpt-Content-Type":"application/json"}'
    )
    headers = {
        "Content-Type": "application/json",
        "XroadVnpt-systemid": "edx.demo.01",
        "XroadVnpt-timestamp": TIMESTAMP,
        "XroadVnpt-Content-Type": "application/json",
        "XroadVnpt-sign-header-key": "systemid;timestamp;Content-Type",
        "XroadVnpt-sign-header": signed,
        "XroadVnpt-hash-header": "5e79ff58085d59d8992ecc39ce7eb17cd197692c2541efad04b6676ec66c3811",
        "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
        "XroadVnpt-version": "3.0.201608",
    }
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        response = await http.post(f"{gw.url}/vxp/countReceiveEdoc", headers=headers, content=b"{}")
        assert response.json() == {
            "status": "OK",
            "ErrorCode": "0",
            "ErrorDesc": "Success",
            "count": 0,
        }
        # downloadEdoc2: no XroadVnpt headers at all -> 401, empty body
        bare = await http.get(f"{gw.url}/vxp/downloadEdoc")
        assert bare.status_code == 401
        assert bare.content == b""


async def _first_answer(
    url: str, head: str
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """Send only the head of a request; the first answer, read before any body is sent."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode("utf-8"))
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    return answer, reader, writer


async def _final(reader: asyncio.StreamReader, head: bytes) -> dict[str, Any]:
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    answer: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readexactly(length), 20))
    return answer


async def test_expect_100_continue_is_answered_before_the_body(
    live_bus: Settings, tmp_path: Path
) -> None:
    """The SDK's Apache client waits ~3 s for an answer to Expect: 100-continue.

    The gateway must answer without waiting for the body: either 100 Continue, or its
    final answer at once (it reads no body on these operations).
    """
    config = gateway_config(tmp_path)
    add_system(config, DEMO[0], [PROVINCE], DEMO[1])
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient() as http:
        sdk = SdkClient(http, f"{gw.url}/vxp", *DEMO)
        for operation in ("countReceiveStatus", "getEdoc", "updateStatus"):
            sdk.params["docId"] = "6303b8b7-c7a5-435d-b192-fd0e38404a41"
            sdk.params["status"] = "done"
            headers = sdk._headers("application/json")
            lines = [
                f"POST /vxp/{operation} HTTP/1.1",
                f"Host: {gw.url[7:]}",
                "Content-Length: 2",
                "Expect: 100-continue",
                "Connection: Keep-Alive",
            ]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            loop = asyncio.get_running_loop()
            started = loop.time()
            first, reader, writer = await _first_answer(gw.url, "\r\n".join(lines) + "\r\n\r\n")
            try:
                assert loop.time() - started < 20
                if first.startswith(b"HTTP/1.1 100"):
                    writer.write(b"{}")
                    await writer.drain()
                    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
                assert first.startswith(b"HTTP/1.1 200"), first
                answer = await _final(reader, first)
            finally:
                writer.close()
                await writer.wait_closed()
            if operation == "countReceiveStatus":
                assert answer["count"] == 0
            else:  # no such item: refused, as JSON, at once
                assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "404")


async def test_send_edoc_hash_file_and_stale_parameters(live_bus: Settings, tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    add_system(config, "vp.huyen", [DISTRICT], "secret-of-the-district")
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        province = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
        district = SdkClient(http, f"{gw.url}/vxp", "vp.huyen", "secret-of-the-district")
        first = build(make_document(PROVINCE, [DISTRICT]))
        second = build(make_document(PROVINCE, [DISTRICT]))

        # a client that does not append CR LF: the whole body is the package
        province.params.update({"servicetype": "eDoc", "messagetype": "edoc"})
        province.params["hash-file"] = sdk_hash_file(first)
        headers = province._headers("application/octet-stream")
        plain = (await http.post(f"{gw.url}/vxp/sendEdoc", headers=headers, content=first)).json()
        assert plain["status"] == "OK", plain
        # a stale `to` (section 3) is compared, never obeyed
        answer = await province.send_edoc(second, to=[COMMUNE])
        assert answer["status"] == "OK", answer
        # a body that is not what hash-file names: refused, nothing delivered
        province.params["hash-file"] = sdk_hash_file(first)
        headers = province._headers("application/octet-stream")
        bad = (
            await http.post(f"{gw.url}/vxp/sendEdoc", headers=headers, content=second + b"\r\n")
        ).json()
        assert (bad["status"], bad["ErrorCode"], bad["DocId"]) == ("FAIL", "400", "")
        assert "hash-file" in bad["ErrorDesc"]

        async def both() -> list[dict[str, Any]] | None:
            items = await district.received("edoc")
            return items if len(items) == 2 else None

        items = await eventually(both, what="both documents at the district")
        # processing keeps an item listed; the stale docId/status in the map filter nothing
        assert (await district.update_status(items[0]["docId"], "processing"))["status"] == "OK"
        listed = await district.received("edoc")
        assert {i["docId"] for i in listed} == {i["docId"] for i in items}
        assert {i["status"] for i in listed} == {"initial", "processing"}
        count = await district.json("countReceiveEdoc", body=b"{}")
        assert count["count"] == 2
        # no messagetype at all: documents (a fresh object, without the stale entries)
        fresh = SdkClient(http, f"{gw.url}/vxp", "vp.huyen", "secret-of-the-district")
        unnamed = (await fresh.json("getReceivedEdocList", {"servicetype": "eDoc"}))["data"]
        assert {i["docId"] for i in unnamed} == {i["docId"] for i in items}
        assert (await fresh.json("getReceivedEdocList", {"messagetype": "STATUS"}))["data"] == []
        bad_state = await district.update_status(items[1]["docId"], "archived")
        assert (bad_state["status"], bad_state["ErrorCode"]) == ("FAIL", "400")

        # The software sends its own 01 first, then confirms: the gateway sends no second 01.
        taken = parse(await district.get_edoc(items[1]["docId"]), mode=Mode.STRICT).package
        assert isinstance(taken, DocumentPackage)
        own = build(new_status(DISTRICT, taken, StatusCode.ARRIVED, "Đã đến"))
        assert (await district.send_edoc(own, messagetype="status"))["status"] == "OK"
        assert (await district.update_status(items[1]["docId"], "done"))["status"] == "OK"
        accepted = build(new_status(DISTRICT, taken, StatusCode.ACCEPTED, "Đã tiếp nhận"))
        assert (await district.send_edoc(accepted, messagetype="status"))["status"] == "OK"

        async def codes() -> list[str] | None:
            found = []
            for item in await province.received("status"):
                status = parse(await province.get_edoc(item["docId"]), mode=Mode.STRICT).package
                assert isinstance(status, StatusPackage)
                if status.document_id == taken.document_id:
                    found.append(str(status.status_code))
            return found if "03" in found else None

        # one sender's statuses share a partition, in order: a second 01 would precede the 03
        assert sorted(await eventually(codes, what="the 03 at the province")) == ["01", "03"]


async def test_register_and_delete_for_a_system_granted_them(
    live_bus: Settings, tmp_path: Path
) -> None:
    config = gateway_config(tmp_path)
    engine = open_gateway_engine(config.db_url)
    registry = SystemRegistry(engine)
    registry.add("vp.tinh", [PROVINCE], "secret-of-the-province", may_register=True)
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        sdk = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
        elsewhere = json.dumps(
            {
                "id": "",
                "pcode": OTHER_PROVINCE,
                "code": "000.09.00.H41",
                "name": "x",
                "mail": "",
                "mobile": "",
                "fax": "",
            }
        ).encode()
        refused = await sdk.json("registerAgency", body=elsewhere)
        assert (refused["status"], refused["ErrorCode"]) == ("FAIL", "403")
        bad = await sdk.json("registerAgency", body=b'{"mail":cc""}')
        assert (bad["status"], bad["ErrorCode"]) == ("FAIL", "400")
        body = json.dumps(
            {
                "id": "",
                "pcode": PROVINCE,
                "code": "000.09.00.H44",
                "name": "Văn phòng thử nghiệm",
                "mail": "",
                "mobile": "",
                "fax": "",
            },
            ensure_ascii=False,
        ).encode()
        answer = await sdk.json("registerAgency", body=body)
        assert answer["status"] == "OK", answer
        system = registry.get("vp.tinh")
        assert system is not None
        assert system.serves("000.09.00.H44")

        async def listed() -> bool:
            data = (await sdk.json("getAgenciesList"))["data"]
            return "000.09.00.H44" in {a["code"] for a in data}

        await eventually(listed, what="the new agency in the directory")
        gone = await sdk.json("deleteAgency", {"AgencyCode": "000.09.00.H44"}, b"{}")
        assert gone["status"] == "OK", gone

        async def suspended() -> bool:
            data = (await sdk.json("getSynchronizeUnit"))["data"]
            return any(a["code"] == "000.09.00.H44" and a["deleted"] for a in data)

        await eventually(suspended, what="the agency marked deleted")
    engine.dispose()
