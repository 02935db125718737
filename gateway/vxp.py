"""The national hub's HTTP protocol at ``/vxp`` (VXP_HTTP_API.md), for the hub's SDK unchanged.

Every operation is routed on the last non-empty path segment (the SDK concatenates
its endpoint and the operation name, so ``//getEdoc`` and prefixes are tolerated).
Every JSON answer is HTTP 200 with ``status``, ``ErrorCode`` and ``ErrorDesc`` (and
``DocId`` for ``sendEdoc``), non-ASCII escaped; ``downloadEdoc`` answers raw bytes,
or an error status with an empty body. No stack trace reaches a client.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bus import get_logger
from edxml.errors import EdxbusError
from gateway._time import hub_time
from gateway.directory_view import DirectoryView
from gateway.errors import (
    BadRequestError,
    GatewayError,
    NotFoundError,
    NotPermittedError,
    NotSupportedError,
)
from gateway.model import InboxEntry
from gateway.service import Gateway
from gateway.systems import System
from gateway.uploads import read_limited
from gateway.vxp_auth import SignedParameters, authenticate

__all__ = ["VxpProtocol", "sdk_hash_file"]

_log = get_logger("gateway.vxp")


def _json(body: dict[str, Any]) -> Response:
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return Response(text, status_code=200, media_type="application/json; charset=utf-8")


def _ok(**extra: Any) -> Response:
    return _json({"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", **extra})


def _fail(error: GatewayError, **extra: Any) -> Response:
    return _json({"status": "FAIL", "ErrorCode": error.vxp_code, "ErrorDesc": str(error), **extra})


def sdk_hash_file(data: bytes) -> str:
    """SHA-256 as the hub's SDK writes it: lowercase hex of each byte, no leading zero."""
    return "".join(format(b, "x") for b in hashlib.sha256(data).digest())


def _package_for(body: bytes, hash_file: str) -> bytes:
    """The package bytes ``hash-file`` names (the body, without the SDK's CR LF or with)."""
    wanted = hash_file.strip().lower()
    candidates = [body[:-2], body] if body.endswith(b"\r\n") else [body]
    for candidate in candidates:
        if wanted in (sdk_hash_file(candidate), hashlib.sha256(candidate).hexdigest()):
            return candidate
    raise BadRequestError("hash-file does not match the body")


Handler = Callable[[Request, System, SignedParameters], Awaitable[Response]]


class VxpProtocol:
    """The operations of the hub protocol over one :class:`Gateway`."""

    def __init__(
        self, gateway: Gateway, directory: DirectoryView, max_upload: int, spool_dir: Path
    ) -> None:
        self.gateway = gateway
        self._spool = spool_dir
        self.directory = directory
        self.max_upload = max_upload
        self._operations: dict[str, tuple[str, Handler]] = {
            "getagencieslist": ("POST", self._agencies),
            "getagencieslistqd20": ("POST", self._agencies_qd20),
            "getsynchronizeunit": ("POST", self._synchronize),
            "registeragency": ("POST", self._register),
            "deleteagency": ("POST", self._delete),
            "sendedoc": ("POST", self._send),
            "getreceivededoclist": ("POST", self._received),
            "getedoc": ("POST", self._get_edoc),
            "downloadedoc": ("GET", self._download),
            "updatestatus": ("POST", self._update_status),
            "getsentedoclist": ("POST", self._sent),
            "countreceiveedoc": ("POST", self._count_edoc),
            "countreceivestatus": ("POST", self._count_status),
        }

    async def handle(self, request: Request) -> Response:
        """Dispatch one request; refusals are JSON FAIL answers naming their reason."""
        segments = [s for s in request.url.path.split("/") if s]
        operation = segments[-1].lower() if segments else ""
        download = operation == "downloadedoc"
        found = self._operations.get(operation)
        try:
            if found is None:
                raise NotFoundError(f"no operation {operation or '(none)'} at this endpoint")
            method, handler = found
            if request.method != method and not (download and request.method == "HEAD"):
                raise BadRequestError(f"{segments[-1]} takes {method}, not {request.method}")
            signed = authenticate(request.headers.raw, self.gateway.registry.secret_of)
            system = self.gateway.admit(signed.system_id)
            return await handler(request, system, signed)
        except GatewayError as exc:
            _log.info("vxp %s refused: %s [%s]", operation, exc, exc.cause_code)
            if download:
                return Response(b"", status_code=exc.http_status)
            return _fail(exc, DocId="") if operation == "sendedoc" else _fail(exc)
        except EdxbusError as exc:
            _log.warning("vxp %s failed: %s [%s]", operation, exc, exc.reason_code)
            error = BadRequestError(f"{exc} [{exc.reason_code}]")
            if download:
                return Response(b"", status_code=400)
            return _fail(error, DocId="") if operation == "sendedoc" else _fail(error)
        except Exception:
            _log.exception("vxp %s: unexpected failure", operation)
            if download:
                return Response(b"", status_code=500)
            body = {
                "status": "FAIL",
                "ErrorCode": "500",
                "ErrorDesc": "internal error; nothing was changed, try again",
            }
            if operation == "sendedoc":
                body["DocId"] = ""
            return _json(body)

    # --- directory -----------------------------------------------------------------

    async def _agencies(self, request: Request, system: System, p: SignedParameters) -> Response:
        return _ok(
            data=[
                {
                    "id": a.code,
                    "code": a.code,
                    "name": a.name,
                    "mail": "",
                    "pid": a.parent or "",
                    "oldCode": a.code,
                }
                for a in await self.directory.agencies()
            ]
        )

    async def _agencies_qd20(
        self, request: Request, system: System, p: SignedParameters
    ) -> Response:
        level = p.get("level")
        agencies = await self.directory.agencies()
        if level:
            try:
                wanted = int(level)
            except ValueError:
                raise BadRequestError(f"level {level!r} is not a number") from None
            agencies = [a for a in agencies if a.level == wanted]
        return _ok(
            data=[
                {"id": a.code, "code": a.code, "name": a.name, "mail": "", "code102": a.code}
                for a in agencies
            ]
        )

    async def _synchronize(self, request: Request, system: System, p: SignedParameters) -> Response:
        registry = self.gateway.registry
        data = []
        for a in await self.directory.agencies(include_inactive=True):
            data.append(
                {
                    "id": a.code,
                    "code": a.code,
                    "name": a.name,
                    "mail": "",
                    "pid": a.parent or "",
                    "version": int(a.updated_at.timestamp()),
                    "centerCode": registry.system_of_agency(a.code),
                    "deleted": not a.active,
                    "modifyDate": a.updated_at.isoformat(),
                    "isAgency": True,
                }
            )
        return _ok(data=data)

    async def _register(self, request: Request, system: System, p: SignedParameters) -> Response:
        if not system.may_register:
            raise NotSupportedError("registerAgency is disabled on this gateway")
        body = await read_limited(
            request.stream(), 64 * 1024, request.headers.get("content-length"), self._spool
        )
        try:
            fields = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRequestError("the agency is not valid JSON") from None
        if not isinstance(fields, dict):
            raise BadRequestError("the agency is not a JSON object")
        parent = str(fields.get("pcode") or "")
        if not system.serves(parent):
            raise NotPermittedError(f"system {system.system_id} does not act for {parent}")
        code, name = str(fields.get("code") or ""), str(fields.get("name") or "")
        await self.directory.register(code, name)
        self.gateway.registry.grant_agency(system.system_id, code)
        return _ok()

    async def _delete(self, request: Request, system: System, p: SignedParameters) -> Response:
        if not system.may_register:
            raise NotSupportedError("deleteAgency is disabled on this gateway")
        code = p.require("AgencyCode")
        if not system.serves(code):
            raise NotPermittedError(f"system {system.system_id} does not act for {code}")
        await self.directory.suspend(code)
        return _ok()

    # --- sending -----------------------------------------------------------------

    async def _send(self, request: Request, system: System, p: SignedParameters) -> Response:
        hash_file = p.require("hash-file")
        message_type = p.get("messagetype")
        declared_from = p.get("from")
        if declared_from and declared_from != system.system_id and not system.serves(declared_from):
            raise NotPermittedError(
                f"system {system.system_id} does not act for agency {declared_from}"
            )
        body = await read_limited(
            request.stream(), self.max_upload, request.headers.get("content-length"), self._spool
        )
        package = _package_for(body, hash_file)
        accepted = await self.gateway.send(
            system,
            package,
            message_type=message_type,
            service_type=p.get("servicetype") or "eDoc",
            scope="vxp-send",
            sender=declared_from if declared_from and declared_from != system.system_id else None,
        )
        named = _to_codes(p.get("to"))
        if named and set(named) != set(accepted.recipients):
            # routed by the package, never by `to` (it may be stale, VXP_HTTP_API.md §3)
            _log.info(
                "sendEdoc to=%s differs from the package's recipients %s",
                ",".join(named),
                ",".join(accepted.recipients),
            )
        return _ok(DocId=accepted.doc_id)

    # --- receiving ---------------------------------------------------------------

    async def _received(self, request: Request, system: System, p: SignedParameters) -> Response:
        message_type = (p.get("messagetype") or "edoc").lower()  # §7.7: edoc by default
        return _ok(data=[_listed(e) for e in self.gateway.inbox(system, message_type)])

    async def _get_edoc(self, request: Request, system: System, p: SignedParameters) -> Response:
        _entry, data = self.gateway.item(system, p.require("docId"))
        return _ok(data=base64.b64encode(data).decode("ascii"))

    async def _download(self, request: Request, system: System, p: SignedParameters) -> Response:
        _entry, data = self.gateway.item(system, p.require("docId"))
        return Response(data, status_code=200, media_type="application/octet-stream")

    async def _update_status(
        self, request: Request, system: System, p: SignedParameters
    ) -> Response:
        await self.gateway.update_status(system, p.require("docId"), p.require("status"))
        return _ok()

    async def _sent(self, request: Request, system: System, p: SignedParameters) -> Response:
        rows = self.gateway.deliveries(system, p.require("docId"))
        return _ok(
            data=[
                {
                    "senderDocId": r.sender_doc_id,
                    "receiverDocId": r.receiver_doc_id,
                    "fromCode": r.from_code,
                    "toCode": r.to_code,
                    "sendStatus": r.send_status,
                    "sendStatusDesc": r.send_status_desc,
                    "receiveStatus": r.receive_status,
                    "receiveStatusDesc": r.receive_status_desc,
                    "title": r.title,
                    "notation": r.notation,
                    "messageType": r.message_type,
                    "serviceType": r.service_type,
                    "sentTime": hub_time(r.sent_time),
                    "receivedTime": hub_time(r.received_time),
                }
                for r in rows
            ]
        )

    async def _count_edoc(self, request: Request, system: System, p: SignedParameters) -> Response:
        return _ok(count=self.gateway.count(system, "edoc"))

    async def _count_status(
        self, request: Request, system: System, p: SignedParameters
    ) -> Response:
        return _ok(count=self.gateway.count(system, "status"))


def _to_codes(value: str | None) -> list[str]:
    """The agency codes of a ``to`` parameter: a JSON array, a JSON string, or raw text."""
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    items = parsed if isinstance(parsed, list) else [parsed]
    codes: list[str] = []
    for item in items:
        codes += [c.strip() for c in str(item).replace(";", ",").split(",") if c.strip()]
    return codes


def _listed(entry: InboxEntry) -> dict[str, str]:
    return {
        "docId": entry.doc_id,
        "serviceType": "eDoc",
        "messageType": entry.message_type,
        "from": entry.sender,
        "to": entry.agency,
        "status": entry.state.value,
        "status_desc": entry.state.description,
        "created_time": hub_time(entry.created_at),
        "updated_time": hub_time(entry.updated_at),
    }
