"""The native REST API at ``/api/v1`` for new integrations (OpenAPI 3.1 at ``/openapi.json``).

The same systems, agencies and operations as the hub protocol, plus the rest of the
SDK's surface: send raw EDXML or fields with attachments, list the inbox, fetch exact
bytes, acknowledge, report a status, take back, revoke/update/replace, follow a sent
document, read the directory. Every request is signed with a freshness window and a
nonce (``gateway.api_auth``); every write takes an ``Idempotency-Key`` (the same
request repeated gives the same answer, never a second document). Errors are RFC 9457
problem details carrying edxbus's reason codes; no stack trace reaches a client.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bus import get_logger
from edxml import BusinessDocType, build, make_attachment, new_document
from edxml.errors import EdxbusError
from gateway.api_auth import verify_request
from gateway.api_models import (
    AcceptedOut,
    AckOut,
    AgencyOut,
    DeliveryOut,
    DocumentFields,
    FollowUpIn,
    InboxItemOut,
    Problem,
    ReportIn,
    SentOut,
    StatusOut,
    TakeBackIn,
)
from gateway.directory_view import DirectoryView
from gateway.errors import BadRequestError, GatewayError
from gateway.follow_ups import follow_up, report, take_back
from gateway.model import Accepted, InboxEntry
from gateway.service import Gateway
from gateway.systems import System
from gateway.uploads import read_limited

__all__ = ["create_native_api", "problem_for_status"]

_log = get_logger("gateway.api")

PROBLEM_TYPE = "https://edxbus.example/problems/"

#: The ``Idempotency-Key`` header (documented with the signature headers, see ``extra``).
Key = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]

#: Composes a package from a stored one and sends it (see ``composing``).
Compose = Callable[..., Awaitable[Accepted]]

_SIGNED = {
    "X-Edx-System": "The system id.",
    "X-Edx-Timestamp": "Unix time in seconds (within 300 s of the gateway's clock).",
    "X-Edx-Nonce": "16-128 characters [A-Za-z0-9_-], never reused.",
    "X-Edx-Signature": "hex HMAC-SHA256 of the canonical request (docs/GATEWAY.md).",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text, "content": {"application/problem+json": {}}}
    for code, text in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (403, "Not permitted"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Too large"),
        (429, "Too many requests"),
        (500, "Internal error"),
        (501, "Not supported"),
        (503, "Bus unavailable"),
    )
}


def _problem(status: int, reason_code: str, detail: str) -> JSONResponse:
    body = Problem(
        type=PROBLEM_TYPE + reason_code,
        title=reason_code.replace("-", " "),
        status=status,
        detail=detail,
        reason_code=reason_code,
    )
    return JSONResponse(
        body.model_dump(), status_code=status, media_type="application/problem+json"
    )


def problem_for_status(status: int) -> JSONResponse:
    """The problem answer of a plain HTTP error (no such route, method not allowed)."""
    reason = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
    detail = {404: "no such resource", 405: "method not allowed"}.get(status, "HTTP error")
    return _problem(status, reason, detail)


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


_SEND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/xml": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "An EDXML package (signed or not).",
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["document"],
                    "properties": {
                        "document": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "DocumentFields as JSON.",
                        },
                        "attachments": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                }
            },
        },
    }
}


def _accepted(accepted: Accepted) -> AcceptedOut:
    return AcceptedOut.model_validate(accepted, from_attributes=True)


def _item(entry: InboxEntry) -> InboxItemOut:
    return InboxItemOut.model_validate(entry, from_attributes=True)


def _parse(model: type[Any], body: bytes) -> Any:
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BadRequestError(
            f"invalid request body at {where or '(root)'}: {first.get('msg', 'invalid')}"
        ) from None


def create_native_api(
    gateway: Gateway, directory: DirectoryView, max_upload: int, spool_dir: Path
) -> FastAPI:
    """The FastAPI application to mount at ``/api/v1``."""
    api = FastAPI(
        title="edxbus gateway: native API",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        description=(
            "Send and receive signed EDXML documents through edxbus. Requests are signed "
            "(X-Edx-* headers, see docs/GATEWAY.md); writes take an Idempotency-Key."
        ),
    )

    async def caller(request: Request) -> tuple[System, bytes]:
        body = await read_limited(
            request.stream(), max_upload, request.headers.get("content-length"), spool_dir
        )
        request._body = body  # read once; multipart parsing reads this copy
        query = request.scope.get("query_string", b"").decode("latin-1")
        raw_path = request.scope.get("raw_path") or request.url.path.encode("latin-1")
        target = raw_path.decode("latin-1") + (f"?{query}" if query else "")
        system_id = verify_request(
            method=request.method,
            target=target,
            headers=request.headers,
            body=body,
            secret_of=gateway.registry.secret_of,
            engine=gateway.engine,
        )
        return gateway.admit(system_id), body

    def fingerprint(request: Request, body: bytes) -> str:
        digest = hashlib.sha256()
        digest.update(request.method.encode() + b" " + request.url.path.encode() + b"\n")
        digest.update(body)
        return digest.hexdigest()

    def require_key(key: str | None) -> str:
        if not key or len(key) > 200:
            raise BadRequestError("every write needs an Idempotency-Key header (1-200 chars)")
        return key

    async def once(
        system: System, scope: str, key: str, fp: str, status: int, act: Any
    ) -> JSONResponse:
        earlier = gateway.answers.earlier(system.system_id, scope, key, fp)
        if earlier is None:
            answer = json.dumps(jsonable(await act()))
            earlier = gateway.answers.remember(system.system_id, scope, key, fp, answer)
        return JSONResponse(json.loads(earlier), status_code=status)

    # --- errors: RFC 9457 --------------------------------------------------------

    @api.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return _problem(exc.http_status, exc.cause_code, str(exc))

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_for_status(exc.status_code)

    @api.exception_handler(EdxbusError)
    async def _edxbus_error(request: Request, exc: EdxbusError) -> JSONResponse:
        return _problem(400, exc.reason_code, str(exc))

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _problem(400, "bad-request", f"invalid {where}: {first.get('msg', 'value')}")

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("native API: unexpected failure")
        return _problem(500, "internal-error", "internal error; nothing was changed, try again")

    def headers_doc(write: bool) -> dict[str, Any]:
        params = [
            {
                "name": n,
                "in": "header",
                "required": True,
                "description": d,
                "schema": {"type": "string"},
            }
            for n, d in _SIGNED.items()
        ]
        if write:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "Identifies this write; a repeat gets the same answer.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                }
            )
        return {"parameters": params}

    def extra(write: bool, body: dict[str, Any] | None = None) -> dict[str, Any]:
        merged = headers_doc(write)
        if body:
            merged.update(body)
        return merged

    # --- sending -----------------------------------------------------------------

    @api.post(
        "/documents",
        status_code=201,
        response_model=AcceptedOut,
        responses=_ERRORS,
        openapi_extra=extra(True, _SEND_BODY),
        summary="Send a document or status",
    )
    async def send(request: Request, key: Key = None) -> AcceptedOut:
        system, body = await caller(request)
        idem = require_key(key)
        fp = fingerprint(request, body)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            # a rebuilt multipart body has a new boundary: the fingerprint is its content
            package, fp = await _from_fields(request)
        elif kind in ("application/xml", "text/xml", "application/octet-stream"):
            package = body
        else:
            raise BadRequestError(
                "send application/xml (an EDXML package) or multipart/form-data (fields)"
            )
        accepted = await gateway.send(system, package, scope="api-send", key=idem, fingerprint=fp)
        return _accepted(accepted)

    # --- receiving ---------------------------------------------------------------

    @api.get(
        "/inbox",
        response_model=list[InboxItemOut],
        responses=_ERRORS,
        openapi_extra=extra(False),
        summary="Packages waiting for the system",
    )
    async def inbox(
        request: Request,
        message_type: Annotated[str | None, Query(pattern="^(edoc|status)$")] = None,
    ) -> list[InboxItemOut]:
        system, _ = await caller(request)
        return [_item(e) for e in gateway.inbox(system, message_type)]

    @api.get(
        "/inbox/{doc_id}",
        responses={
            **_ERRORS,
            200: {
                "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
                "description": "The package's exact bytes.",
            },
        },
        response_class=Response,
        openapi_extra=extra(False),
        summary="Fetch a package's exact bytes",
    )
    async def fetch(request: Request, doc_id: str) -> Response:
        system, _ = await caller(request)
        _entry, data = gateway.item(system, doc_id)
        return Response(data, media_type="application/xml")

    @api.post(
        "/inbox/{doc_id}/ack",
        response_model=AckOut,
        responses=_ERRORS,
        openapi_extra=extra(True),
        summary="The system took the package",
    )
    async def acknowledge(request: Request, doc_id: str, key: Key = None) -> JSONResponse:
        system, body = await caller(request)

        async def act() -> AckOut:
            entry = await gateway.update_status(system, doc_id, "done")
            return AckOut(doc_id=entry.doc_id, state=entry.state.value)

        return await once(system, "api-ack", require_key(key), fingerprint(request, body), 200, act)

    def composing(
        path: str, name: str, scope: str, model: type[BaseModel], summary: str, compose: Compose
    ) -> None:
        """A write that composes a package from a stored one and sends it:
        ``compose(system, doc_id, wanted, scope=, key=, fingerprint=)``."""

        async def route(request: Request, doc_id: str, key: Key = None) -> AcceptedOut:
            system, body = await caller(request)
            wanted = _parse(model, body)
            accepted = await compose(
                system,
                doc_id,
                wanted,
                scope=scope,
                key=require_key(key),
                fingerprint=fingerprint(request, body),
            )
            return _accepted(accepted)

        api.add_api_route(
            path,
            route,
            methods=["POST"],
            status_code=201,
            response_model=AcceptedOut,
            responses=_ERRORS,
            openapi_extra=extra(True, _json_body(model)),
            name=name,
            summary=summary,
        )

    async def report_on(system: System, doc_id: str, wanted: ReportIn, **once: str) -> Accepted:
        return await report(gateway, system, doc_id, wanted.code, wanted.description, **once)

    composing(
        "/inbox/{doc_id}/status",
        "report_status",
        "api-report",
        ReportIn,
        "Report a status (02-06, 15, 16) on a received document",
        report_on,
    )

    # --- what was sent -----------------------------------------------------------

    @api.get(
        "/documents/{doc_id}",
        response_model=SentOut,
        responses=_ERRORS,
        openapi_extra=extra(False),
        summary="Deliveries and statuses of a sent document",
    )
    async def sent(request: Request, doc_id: str) -> SentOut:
        system, _ = await caller(request)
        rows = gateway.deliveries(system, doc_id)
        document = gateway.sent_document(system, doc_id)
        statuses = gateway.outboxes.of(document.sender_code).statuses(document.document_id)
        return SentOut(
            doc_id=doc_id,
            document_id=document.document_id,
            deliveries=[
                DeliveryOut(
                    recipient=r.to_code,
                    receiver_doc_id=r.receiver_doc_id,
                    send_status=r.send_status,
                    receive_status=r.receive_status,
                    received_at=r.received_time,
                )
                for r in rows
            ],
            statuses=[
                StatusOut(
                    recipient=s.recipient,
                    status_code=s.status_code,
                    description=s.description,
                    at=s.at,
                )
                for s in statuses
            ],
        )

    async def take_back_of(
        system: System, doc_id: str, wanted: TakeBackIn, **once: str
    ) -> Accepted:
        return await take_back(gateway, system, doc_id, wanted.description, **once)

    composing(
        "/documents/{doc_id}/take-back",
        "take_back_document",
        "api-take-back",
        TakeBackIn,
        "Ask every recipient to hand a sent document back (13)",
        take_back_of,
    )

    for action, business in (
        ("revoke", BusinessDocType.REVOCATION),
        ("update", BusinessDocType.UPDATE),
        ("replace", BusinessDocType.REPLACEMENT),
    ):
        composing(
            f"/documents/{{doc_id}}/{action}",
            action,
            f"api-{action}",
            FollowUpIn,
            f"Send a {business.name.lower()} of a sent document",
            _follow_up_of(gateway, business),
        )

    # --- directory ---------------------------------------------------------------

    @api.get(
        "/directory",
        response_model=list[AgencyOut],
        responses=_ERRORS,
        openapi_extra=extra(False),
        summary="The agencies reachable through the bus",
    )
    async def agencies(request: Request) -> list[AgencyOut]:
        await caller(request)
        return [
            AgencyOut(code=a.code, name=a.name, parent=a.parent, level=a.level, active=a.active)
            for a in await directory.agencies()
        ]

    return api


def _follow_up_of(gateway: Gateway, business: BusinessDocType) -> Compose:
    """What composes the follow-up ``business`` of a sent document (see ``composing``)."""

    async def compose(system: System, doc_id: str, wanted: FollowUpIn, **once: str) -> Accepted:
        fields = {"subject": wanted.subject, "content": wanted.content, "notation": wanted.notation}
        return await follow_up(gateway, system, doc_id, business, wanted.reason, fields, **once)

    return compose


async def _from_fields(request: Request) -> tuple[bytes, str]:
    """An unsigned EDXML package built from a multipart send, and the send's fingerprint.

    The fingerprint covers the fields and every attachment's name, type and bytes, not
    the multipart framing, so a client that rebuilds the same request repeats it.
    """
    form = await request.form()
    try:
        raw = form.get("document")
        if not isinstance(raw, str):
            raise BadRequestError("the multipart send needs a 'document' part (JSON fields)")
        fields: DocumentFields = _parse(DocumentFields, raw.encode("utf-8"))
        digest = hashlib.sha256(b"fields\n" + fields.model_dump_json().encode("utf-8"))
        attachments = []
        for part in form.getlist("attachments"):
            if isinstance(part, str):
                raise BadRequestError("'attachments' parts must be files")
            data = await part.read()
            name = part.filename or "attachment"
            digest.update(f"\n{name}\n{part.content_type}\n{len(data)}\n".encode())
            digest.update(data)
            attachments.append(make_attachment(name, data, part.content_type))
        package = new_document(
            fields.sender,
            fields.recipients,
            number=fields.number,
            notation=fields.notation,
            subject=fields.subject,
            content=fields.content,
            signer_name=fields.signer_name,
            signer_position=fields.signer_position,
            place=fields.place,
            due_date=fields.due_date,
            attachments=attachments,
        )
        return build(package), digest.hexdigest()
    finally:
        await form.close()


def jsonable(value: Any) -> Any:
    """A pydantic model (or plain value) as JSON-ready data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
