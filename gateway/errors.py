"""The gateway's refusals: every one names its reason.

They sit under :class:`edxml.errors.ClientError` (the edge's branch of the one
exception tree)::

    ClientError
    └── GatewayError                 .reason_code (edxbus), .vxp_code (the hub's ErrorCode),
        │                            .http_status (the native API's status)
        ├── BadRequestError          400: a missing, ambiguous or invalid parameter
        │   ├── PackageRefusedError  400: the package cannot be accepted (.cause: its reason code)
        │   └── UploadTooLargeError  413: more bytes than the gateway's upload limit (.limit)
        ├── AuthenticationError      401: missing or wrong signature, unknown system
        │   ├── StaleRequestError    401: a native request outside the freshness window
        │   └── ReplayedRequestError 401: a native request whose nonce was seen already
        ├── NotPermittedError        403: the system does not serve that agency
        ├── NotFoundError            404: no such item for this system, unknown recipient
        ├── ConflictError            409: a terminal state changed, an idempotency key reused
        ├── RateLimitedError         429: the system sends more requests than it may
        ├── NotSupportedError        501: an operation this gateway does not offer
        └── UnavailableError         503: the bus does not answer; nothing was accepted
"""

from __future__ import annotations

from typing import Any, ClassVar

from edxml.errors import ClientError

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GatewayError",
    "NotFoundError",
    "NotPermittedError",
    "NotSupportedError",
    "PackageRefusedError",
    "RateLimitedError",
    "ReplayedRequestError",
    "StaleRequestError",
    "UnavailableError",
    "UploadTooLargeError",
]


class GatewayError(ClientError):
    """A request the gateway refuses; the message is safe to show to the caller."""

    reason_code: ClassVar[str] = "gateway-error"
    vxp_code: ClassVar[str] = "400"
    http_status: ClassVar[int] = 400

    def __init_subclass__(cls, *, status: int | None = None, **kwargs: Any) -> None:
        """``status``: the refusal's number, the hub's ErrorCode and the HTTP status alike."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.vxp_code = str(status)
            cls.http_status = status

    @property
    def cause_code(self) -> str:
        """The most specific reason code (a wrapped package error's, if any)."""
        return self.reason_code


class BadRequestError(GatewayError):
    """A parameter is missing, ambiguous or invalid."""

    reason_code = "bad-request"


class PackageRefusedError(BadRequestError):
    """The package cannot be accepted: it does not parse, verify or normalise."""

    reason_code = "package-refused"

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(f"{message} [{cause}]")
        self.cause = cause

    @property
    def cause_code(self) -> str:
        return self.cause


class UploadTooLargeError(BadRequestError):
    """The request body is larger than the gateway accepts."""

    reason_code = "upload-too-large"
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than the limit of {limit} bytes")
        self.limit = limit


class AuthenticationError(GatewayError, status=401):
    """The request's signature is missing or wrong, or the system is unknown."""

    reason_code = "authentication-failed"


class StaleRequestError(AuthenticationError):
    """A signed native request whose timestamp is outside the freshness window."""

    reason_code = "stale-request"


class ReplayedRequestError(AuthenticationError):
    """A signed native request seen before (same system and nonce)."""

    reason_code = "replayed-request"


class NotPermittedError(GatewayError, status=403):
    """The system may not act for that agency, or may not use that operation."""

    reason_code = "not-permitted"


class NotFoundError(GatewayError, status=404):
    """No such item visible to this system (never says whether it exists elsewhere)."""

    reason_code = "not-found"


class ConflictError(GatewayError, status=409):
    """A terminal state cannot change, or a key was reused for another request."""

    reason_code = "conflict"


class RateLimitedError(GatewayError, status=429):
    """The system exceeded its request rate; nothing was done, try again shortly."""

    reason_code = "rate-limited"


class NotSupportedError(GatewayError, status=501):
    """The operation is switched off on this gateway."""

    reason_code = "not-supported"


class UnavailableError(GatewayError, status=503):
    """The bus does not answer: nothing was accepted, try again later."""

    reason_code = "bus-unavailable"
