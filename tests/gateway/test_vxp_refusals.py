"""Refusals through /vxp, each with its reason, none delivering anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bus import Settings
from edxml import build
from gateway import SystemRegistry, open_gateway_engine
from signing import DevPki
from tests.agency_client.helpers import (
    COMMUNE,
    DISTRICT,
    OTHER_PROVINCE,
    PROVINCE,
    make_document,
)
from tests.gateway.harness import add_system, eventually, gateway_config, running_gateway
from tests.gateway.sdk import SdkClient

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _refused(answer: dict[str, Any], code: str, words: str) -> None:
    assert answer["status"] == "FAIL", answer
    assert answer["ErrorCode"] == code, answer
    assert words in answer["ErrorDesc"], answer
    assert "Traceback" not in answer["ErrorDesc"]


async def test_refusals_name_their_reason(
    live_bus: Settings, other_pki: DevPki, tmp_path: Path
) -> None:
    config = gateway_config(tmp_path, max_upload_bytes=64 * 1024)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    add_system(config, "vp.huyen", [DISTRICT], "secret-of-the-district")
    add_system(config, "vp.xa", [COMMUNE], "secret-of-the-commune")
    async with running_gateway(live_bus, config) as gw, httpx.AsyncClient(timeout=60) as http:
        endpoint = f"{gw.url}/vxp"
        province = SdkClient(http, endpoint, "vp.tinh", "secret-of-the-province")
        district = SdkClient(http, endpoint, "vp.huyen", "secret-of-the-district")
        commune = SdkClient(http, endpoint, "vp.xa", "secret-of-the-commune")

        wrong = SdkClient(http, endpoint, "vp.tinh", "not-the-secret")
        _refused(await wrong.json("countReceiveEdoc", body=b"{}"), "401", "does not verify")
        stranger = SdkClient(http, endpoint, "vp.unknown", "secret-of-nobody")
        _refused(await stranger.json("getAgenciesList"), "401", "does not verify")

        # sending as an agency the system does not serve
        foreign = build(make_document(OTHER_PROVINCE, [DISTRICT]))
        _refused(await province.send_edoc(foreign), "403", "does not act for agency")
        _refused(
            await province.send_edoc(
                build(make_document(PROVINCE, [DISTRICT])), sender=OTHER_PROVINCE
            ),
            "403",
            "does not act for",
        )
        # (that `from` stays in the object's map, as in the SDK: a fresh object from here)
        province = SdkClient(http, endpoint, "vp.tinh", "secret-of-the-province")

        # an unknown recipient: refused before anything is kept (all or nothing)
        nowhere = build(make_document(PROVINCE, [DISTRICT, "000.00.99.H44"]))
        _refused(await province.send_edoc(nowhere), "404", "unknown recipient agency")
        # `from` must be the package's sender (when it is not the system id)
        add_system(config, "vp.hai", [PROVINCE, DISTRICT], "secret-of-the-two")
        two = SdkClient(http, endpoint, "vp.hai", "secret-of-the-two")
        _refused(
            await two.send_edoc(build(make_document(PROVINCE, [COMMUNE])), sender=DISTRICT),
            "403",
            "from names",
        )

        # a package whose signature fails (an untrusted root)
        impostor = other_pki.signer(OTHER_PROVINCE)
        add_system(config, "vp.nghean", [OTHER_PROVINCE], "secret-of-nghe-an")
        nghe_an = SdkClient(http, endpoint, "vp.nghean", "secret-of-nghe-an")
        signed = impostor.sign(build(make_document(OTHER_PROVINCE, [DISTRICT])), check_sender=True)
        _refused(await nghe_an.send_edoc(signed), "400", "does not verify")

        # an oversized upload: refused from its Content-Length, before it is read
        big = build(make_document(PROVINCE, [DISTRICT], content="x" * (100 * 1024)))
        _refused(await province.send_edoc(big), "400", "larger than the limit")

        # a body tampered on the way: hash-file no longer names it
        good = build(make_document(PROVINCE, [DISTRICT], subject="Ve viec A"))
        province.params["hash-file"] = "0" * 64
        tampered = good.replace(b"Ve viec A", b"Ve viec B")
        headers = province._headers("application/octet-stream")
        answer = (
            await http.post(f"{endpoint}/sendEdoc", headers=headers, content=tampered + b"\r\n")
        ).json()
        _refused(answer, "400", "hash-file")
        assert answer["DocId"] == ""

        # a real document for the district; the commune's system may not read it
        sent = await province.send_edoc(good)
        assert sent["status"] == "OK", sent

        async def listed() -> list[dict[str, Any]] | None:
            return await district.received("edoc") or None

        item = (await eventually(listed, what="the document at the district"))[0]
        assert await commune.received("edoc") == []
        _refused(await commune.json("getEdoc", {"docId": item["docId"]}, b"{}"), "404", "no item")
        _refused(await commune.update_status(item["docId"], "done"), "404", "no item")
        stolen = await commune.call("downloadEdoc", {"docId": item["docId"]}, method="GET")
        assert (stolen.status_code, stolen.content) == (404, b"")
        _refused(
            await commune.json("getSentEdocList", {"docId": sent["DocId"]}),
            "404",
            "sent no message",
        )
        assert await district.get_edoc(item["docId"])  # its own system reads it

        # changes take effect at once: a rotated secret, a removed system
        engine = open_gateway_engine(config.db_url)
        registry = SystemRegistry(engine)
        registry.rotate("vp.huyen", "the-new-secret")
        _refused(await district.json("countReceiveEdoc", body=b"{}"), "401", "does not verify")
        rotated = SdkClient(http, endpoint, "vp.huyen", "the-new-secret")
        assert (await rotated.json("countReceiveEdoc", body=b"{}"))["count"] == 1
        registry.remove("vp.huyen")
        _refused(await rotated.json("countReceiveEdoc", body=b"{}"), "401", "does not verify")
        engine.dispose()
