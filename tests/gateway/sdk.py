"""A client that sends exactly what the hub's Java SDK sends (VXP_HTTP_API.md §2-4, §7).

Like the SDK's service objects it keeps one parameter map for its whole life (entries
are never removed, so stale ``docId``/``status`` travel with later calls), fixes its
timestamp once, signs every entry with HMAC-SHA256, sends every Apache-style call as
``application/json`` (with ``Expect: 100-continue`` when the body is not empty) and
``sendEdoc`` as the package followed by CR LF with the SDK's ``hash-file``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway import sdk_hash_file

TIMESTAMP = "29112026T103345+0585"


@dataclass
class SdkClient:
    """One SDK service object: endpoint, system id, secret, and its never-cleared map."""

    http: httpx.AsyncClient
    endpoint: str
    system_id: str
    secret: str
    params: dict[str, str] = field(default_factory=dict)
    resend_send: bool = False

    def __post_init__(self) -> None:
        self.params["systemid"] = self.system_id
        self.params["timestamp"] = TIMESTAMP

    def _headers(self, content_type: str) -> dict[str, str]:
        self.params["Content-Type"] = content_type
        signed = json.dumps(
            {f"XroadVnpt-{k}": v for k, v in self.params.items()},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        mac = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        headers = {f"XroadVnpt-{k}": v for k, v in self.params.items()}
        headers.update(
            {
                "Content-Type": content_type,
                "XroadVnpt-sign-header-key": ";".join(self.params),
                "XroadVnpt-sign-header": signed,
                "XroadVnpt-hash-header": mac,
                "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
                "XroadVnpt-version": "3.0.201608",
            }
        )
        return headers

    async def call(
        self,
        operation: str,
        header_json: dict[str, Any] | None = None,
        body: bytes = b"",
        method: str = "POST",
    ) -> httpx.Response:
        """One Apache-style call: parameters into the map, then signed headers."""
        for key, value in (header_json or {}).items():
            self.params[key] = str(value)
        headers = self._headers("application/json")
        if body:
            headers["Expect"] = "100-continue"
        return await self.http.request(
            method, f"{self.endpoint}/{operation}", headers=headers, content=body
        )

    async def json(
        self, operation: str, header_json: dict[str, Any] | None = None, body: bytes = b""
    ) -> dict[str, Any]:
        response = await self.call(operation, header_json, body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        for name in ("status", "ErrorCode", "ErrorDesc"):
            assert isinstance(answer.get(name), str), answer
        return answer

    async def send_edoc(
        self,
        package: bytes,
        *,
        messagetype: str = "edoc",
        sender: str | None = None,
        to: list[str] | None = None,
    ) -> dict[str, Any]:
        """``sendEdoc``: the file's bytes + CR LF, and its hash-file, as the SDK sends them."""
        self.params["servicetype"] = "eDoc"
        self.params["messagetype"] = messagetype
        self.params["hash-file"] = sdk_hash_file(package)
        if sender is not None:
            self.params["from"] = sender
        if to is not None:
            self.params["to"] = json.dumps(to, separators=(",", ":"))
        headers = self._headers("application/octet-stream")
        headers["Accept"] = "text/html, image/gif, image/jpeg, */*; q=0.2"
        body = package + b"\r\n"
        response = await self.http.post(f"{self.endpoint}/sendEdoc", headers=headers, content=body)
        if self.resend_send:  # the JDK's silent resend of a POST on a dropped connection
            response = await self.http.post(
                f"{self.endpoint}/sendEdoc", headers=headers, content=body
            )
        answer: dict[str, Any] = response.json()
        for name in ("status", "ErrorCode", "ErrorDesc", "DocId"):
            assert isinstance(answer.get(name), str), answer
        return answer

    async def received(self, messagetype: str) -> list[dict[str, Any]]:
        answer = await self.json(
            "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": messagetype}
        )
        assert answer["ErrorCode"] == "0", answer
        data: list[dict[str, Any]] = answer["data"]
        return data

    async def get_edoc(self, doc_id: str) -> bytes:
        answer = await self.json("getEdoc", {"docId": doc_id, "filePath": "xml"}, b"{}")
        assert answer["status"] == "OK", answer
        return base64.b64decode(answer["data"])

    async def update_status(self, doc_id: str, status: str) -> dict[str, Any]:
        return await self.json("updateStatus", {"docId": doc_id, "status": status}, b"{}")
