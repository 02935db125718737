"""Signed requests of the native API: HMAC over the whole request, a freshness window, nonces.

Unlike the hub protocol, the native API gets real replay protection. A request carries:

- ``X-Edx-System``: the system id;
- ``X-Edx-Timestamp``: Unix time in seconds, within ``WINDOW_SECONDS`` of the gateway's clock;
- ``X-Edx-Nonce``: 16-128 characters ``[A-Za-z0-9_-]``, never reused by that system;
- ``X-Edx-Signature``: lowercase hex HMAC-SHA256, under the system's secret (UTF-8), of::

      EDX-HMAC-SHA256 LF METHOD LF path[?query] LF timestamp LF nonce LF hex(SHA-256(body))

The MAC covers the method, the path and query as sent, and the body, so no part of a
request can be changed or reused for another operation. Nonces are remembered for twice
the window: a replayed request is refused (``replayed-request``), and a request older
than the window cannot be replayed either (``stale-request``). Run behind TLS.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from gateway._time import utc_now
from gateway.errors import AuthenticationError, ReplayedRequestError, StaleRequestError
from gateway.store.schema import NONCES

__all__ = ["WINDOW_SECONDS", "RequestSigner", "canonical_request", "verify_request"]

#: How far a request's timestamp may be from the gateway's clock.
WINDOW_SECONDS = 300

_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
SCHEME = "EDX-HMAC-SHA256"


def canonical_request(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes a native request's signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((SCHEME, method.upper(), target, timestamp, nonce, digest)).encode("utf-8")


def verify_request(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_of: Callable[[str], str | None],
    engine: Engine,
    now: float | None = None,
) -> str:
    """The id of the system that signed this request; refused (401) with the reason otherwise."""
    system_id = headers.get("x-edx-system", "")
    timestamp = headers.get("x-edx-timestamp", "")
    nonce = headers.get("x-edx-nonce", "")
    signature = headers.get("x-edx-signature", "").strip().lower()
    if not (system_id and timestamp and nonce and signature):
        raise AuthenticationError(
            "the request is not signed (X-Edx-System, X-Edx-Timestamp, X-Edx-Nonce, "
            "X-Edx-Signature)"
        )
    if not _NONCE.match(nonce):
        raise AuthenticationError("X-Edx-Nonce must be 16-128 characters [A-Za-z0-9_-]")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise AuthenticationError("X-Edx-Timestamp must be Unix time in seconds") from None
    clock = time.time() if now is None else now
    if abs(clock - sent_at) > WINDOW_SECONDS:
        raise StaleRequestError(
            f"the request's timestamp is more than {WINDOW_SECONDS} s from the gateway's clock"
        )
    secret = secret_of(system_id)
    message = canonical_request(method, target, timestamp, nonce, body)
    expected = hmac.new((secret or "").encode("utf-8"), message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("latin-1")) or (
        not secret
    ):
        raise AuthenticationError(f"the signature of system {system_id} does not verify")
    _remember_nonce(engine, system_id, nonce)
    return system_id


def _remember_nonce(engine: Engine, system_id: str, nonce: str) -> None:
    now = utc_now()
    try:
        with engine.begin() as conn:
            conn.execute(
                delete(NONCES).where(NONCES.c.seen_at < now - timedelta(seconds=2 * WINDOW_SECONDS))
            )
            conn.execute(insert(NONCES).values(system_id=system_id, nonce=nonce, seen_at=now))
    except IntegrityError:
        raise ReplayedRequestError(
            f"nonce {nonce} of system {system_id} was used already: a replayed request"
        ) from None


class RequestSigner:
    """The client side, for tests, examples and Python integrations."""

    def __init__(self, system_id: str, secret: str) -> None:
        self.system_id = system_id
        self._secret = secret

    def headers(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        *,
        nonce: str | None = None,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        """The four signature headers for one request."""
        nonce = nonce or secrets.token_urlsafe(18)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        message = canonical_request(method, target, stamp, nonce, body)
        mac = hmac.new(self._secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
        return {
            "X-Edx-System": self.system_id,
            "X-Edx-Timestamp": stamp,
            "X-Edx-Nonce": nonce,
            "X-Edx-Signature": mac,
        }
