"""schemathesis against /api/v1/openapi.json: every operation, generated requests (valid
and not), signed as a client signs them, answers as the document says and never a 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bus import Settings
from gateway.api_auth import RequestSigner
from tests.agency_client.helpers import DISTRICT, PROVINCE
from tests.gateway.harness import add_system, gateway_config, running_gateway

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    # schemathesis' own strategies draw from `random`, which hypothesis now deprecates
    pytest.mark.filterwarnings("ignore:.*random.*:hypothesis.errors.HypothesisDeprecationWarning"),
]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(raw: dict[str, Any], base_url: str, signer: RequestSigner) -> int:
    schema = schemathesis.openapi.from_dict(raw)
    calls = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=15,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def one(case: schemathesis.Case) -> None:
                nonlocal calls
                kwargs = case.as_transport_kwargs(base_url=base_url)
                kwargs.pop("timeout", None)
                kwargs.pop("verify", None)
                kwargs.pop("cert", None)
                kwargs.pop("allow_redirects", None)
                prepared = session.prepare_request(requests.Request(**kwargs))
                body = prepared.body or b""
                if isinstance(body, str):
                    body = body.encode("utf-8")
                prepared.headers.update(
                    signer.headers(prepared.method or "GET", prepared.path_url, body)
                )
                prepared.headers.setdefault("Idempotency-Key", "fuzz")
                response = session.send(prepared, timeout=60)
                calls += 1
                case.validate_response(response, checks=CHECKS)

            one()
    return calls


async def test_the_native_api_conforms_to_its_openapi_document(
    live_bus: Settings, tmp_path: Path
) -> None:
    config = gateway_config(tmp_path)
    add_system(config, "vp.tinh", [PROVINCE, DISTRICT], "secret-of-the-province")
    async with running_gateway(live_bus, config) as gw:
        async with httpx.AsyncClient(timeout=60) as http:
            raw = (await http.get(f"{gw.url}/api/v1/openapi.json")).json()
        assert raw["openapi"].startswith("3.1")
        signer = RequestSigner("vp.tinh", "secret-of-the-province")
        calls = await asyncio.to_thread(_fuzz, raw, f"{gw.url}/api/v1", signer)
        assert calls >= 10 * 5
