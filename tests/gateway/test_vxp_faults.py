"""Faults: a gateway killed (SIGKILL) after accepting a package and before publishing it, and
after storing an inbox package and before the system confirmed it. After a restart nothing is
lost and nothing reaches the software twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bus import Settings
from bus.embedded import free_port
from edxml import build
from tests.agency_client.helpers import DISTRICT, PROVINCE, make_document
from tests.gateway.harness import add_system, eventually, gateway_config
from tests.gateway.process import gateway_env, gateway_process
from tests.gateway.sdk import SdkClient

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _systems(tmp_path: Path) -> Any:
    config = gateway_config(tmp_path)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    add_system(config, "vp.huyen", [DISTRICT], "secret-of-the-district")
    return config


async def test_killed_between_accepting_and_publishing(live_bus: Settings, tmp_path: Path) -> None:
    config = _systems(tmp_path)
    unsigned = build(make_document(PROVINCE, [DISTRICT]))
    # The bus is out of reach: the gateway accepts (outbox on disk) and cannot publish.
    dead_bus = gateway_env(live_bus, config, EDX_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    with gateway_process(dead_bus, tmp_path) as gw:
        async with httpx.AsyncClient(timeout=60) as http:
            province = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
            accepted = await province.send_edoc(unsigned)
            assert accepted["status"] == "OK", accepted
        gw.kill()
    with gateway_process(gateway_env(live_bus, config), tmp_path) as gw:
        async with httpx.AsyncClient(timeout=60) as http:
            province = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
            district = SdkClient(http, f"{gw.url}/vxp", "vp.huyen", "secret-of-the-district")
            # the SDK resends after the crash: the original DocId, no second document
            again = await province.send_edoc(unsigned)
            assert again["DocId"] == accepted["DocId"]

            async def arrived() -> list[dict[str, Any]] | None:
                return await district.received("edoc") or None

            items = await eventually(arrived, what="the document published after the restart")
            assert len(items) == 1
            assert (await district.update_status(items[0]["docId"], "done"))["status"] == "OK"

            async def delivered() -> list[dict[str, Any]] | None:
                rows = (await province.json("getSentEdocList", {"docId": accepted["DocId"]}))[
                    "data"
                ]
                return rows if rows and rows[0]["receiveStatus"] == "done" else None

            rows = await eventually(delivered, what="the delivery report")
            assert rows[0]["sendStatus"] == "done"
            # the 01 reached the province: one status item, nothing twice
            statuses = await eventually(
                lambda: province.received("status"), what="the 01 at the province"
            )
            assert len(statuses) == 1
            assert await district.received("edoc") == []


async def test_killed_between_storing_and_confirmation(live_bus: Settings, tmp_path: Path) -> None:
    config = _systems(tmp_path)
    first = build(make_document(PROVINCE, [DISTRICT]))
    with gateway_process(gateway_env(live_bus, config), tmp_path) as gw:
        async with httpx.AsyncClient(timeout=60) as http:
            province = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
            district = SdkClient(http, f"{gw.url}/vxp", "vp.huyen", "secret-of-the-district")
            assert (await province.send_edoc(first))["status"] == "OK"

            async def stored() -> list[dict[str, Any]] | None:
                return await district.received("edoc") or None

            before = await eventually(stored, what="the document stored at the gateway")
            fetched = await district.get_edoc(before[0]["docId"])
        gw.kill()  # stored, fetched, never confirmed
    second = build(make_document(PROVINCE, [DISTRICT]))
    with gateway_process(gateway_env(live_bus, config), tmp_path) as gw:
        async with httpx.AsyncClient(timeout=60) as http:
            province = SdkClient(http, f"{gw.url}/vxp", "vp.tinh", "secret-of-the-province")
            district = SdkClient(http, f"{gw.url}/vxp", "vp.huyen", "secret-of-the-district")
            after = await district.received("edoc")
            assert [i["docId"] for i in after] == [before[0]["docId"]]  # handed out again
            assert await district.get_edoc(after[0]["docId"]) == fetched
            assert (await province.send_edoc(second))["status"] == "OK"

            async def both() -> list[dict[str, Any]] | None:
                items = await district.received("edoc")
                return items if len(items) >= 2 else None

            items = await eventually(both, what="the second document after the restart")
            # the first record is not stored twice although the reader started again
            assert len(items) == 2
            for item in items:
                assert (await district.update_status(item["docId"], "done"))["status"] == "OK"
            assert await district.received("edoc") == []
