"""A small client of the native API: every request signed, every write with a key."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.api_auth import RequestSigner


@dataclass
class NativeClient:
    http: httpx.AsyncClient
    base: str  # http://host:port
    signer: RequestSigner

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        target = f"/api/v1{path}"
        sent = self.signer.headers(method, target, body)
        if content_type:
            sent["Content-Type"] = content_type
        if key is not None:
            sent["Idempotency-Key"] = key
        sent.update(headers or {})
        return await self.http.request(method, f"{self.base}{target}", content=body, headers=sent)

    async def write(
        self, path: str, payload: dict[str, Any] | None = None, key: str | None = None
    ) -> httpx.Response:
        body = json.dumps(payload or {}).encode()
        return await self.request(
            "POST", path, body=body, content_type="application/json", key=key or str(uuid.uuid4())
        )

    async def get(self, path: str) -> httpx.Response:
        return await self.request("GET", path)

    async def send_xml(self, package: bytes, key: str | None = None) -> httpx.Response:
        return await self.request(
            "POST",
            "/documents",
            body=package,
            content_type="application/xml",
            key=key or str(uuid.uuid4()),
        )

    async def send_fields(
        self, fields: dict[str, Any], files: list[tuple[str, bytes, str]], key: str | None = None
    ) -> httpx.Response:
        parts: list[tuple[str, Any]] = [
            ("document", (None, json.dumps(fields), "application/json"))
        ]
        parts += [("attachments", (name, data, kind)) for name, data, kind in files]
        request = self.http.build_request("POST", "http://x/", files=parts)
        body = request.read()
        return await self.request(
            "POST",
            "/documents",
            body=body,
            content_type=request.headers["Content-Type"],
            key=key or str(uuid.uuid4()),
        )
