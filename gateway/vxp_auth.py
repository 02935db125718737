"""The hub protocol's ``XroadVnpt-*`` HMAC authentication (VXP_HTTP_API.md §3-4).

The client signs a JSON text of its parameters (``XroadVnpt-sign-header``) with
HMAC-SHA256 under the system's secret (``XroadVnpt-hash-header``). The gateway:

- recomputes the MAC over the signed text **exactly as received** (raw header bytes,
  never re-serialised), compares in constant time;
- takes the operation's parameters from the signed text only, and requires each
  signed entry to be present as its own header with the identical value;
- matches parameter names case-insensitively and refuses a parameter whose case
  variants disagree;
- enforces no timestamp freshness: the hub's SDK never refreshes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import AuthenticationError, BadRequestError

__all__ = ["SignedParameters", "authenticate", "sign_parameters"]

PREFIX = "xroadvnpt-"
SIGN_HEADER = b"xroadvnpt-sign-header"
HASH_HEADER = b"xroadvnpt-hash-header"


@dataclass(frozen=True)
class SignedParameters:
    """The signed parameters of one request, by lower-case name (values as signed)."""

    system_id: str
    values: dict[str, tuple[str, ...]]

    def get(self, name: str) -> str | None:
        """The parameter ``name`` (any case); refused when its case variants disagree."""
        found = self.values.get(name.lower(), ())
        if not found:
            return None
        if len(set(found)) > 1:
            raise BadRequestError(f"ambiguous parameter {name}: its case variants disagree")
        return found[0]

    def require(self, name: str) -> str:
        """The parameter ``name``; refused when absent or empty."""
        value = self.get(name)
        if not value:
            raise BadRequestError(f"missing parameter {name}")
        return value


def _pairs_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise BadRequestError(f"the signed header names {key} twice")
        seen[key] = value
    return seen


def _headers_by_name(raw: Sequence[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for name, value in raw:
        found.setdefault(name.lower(), []).append(value)
    return found


def authenticate(
    raw_headers: Sequence[tuple[bytes, bytes]], secret_of: Callable[[str], str | None]
) -> SignedParameters:
    """The signed parameters of a request whose signature holds; otherwise refused (401)."""
    headers = _headers_by_name(raw_headers)
    signed_list = headers.get(SIGN_HEADER, [])
    mac_list = headers.get(HASH_HEADER, [])
    if len(signed_list) != 1 or len(mac_list) != 1:
        raise AuthenticationError("the request carries no single XroadVnpt signature")
    signed, mac = signed_list[0], mac_list[0]
    try:
        parsed = json.loads(signed.decode("utf-8"), object_pairs_hook=_pairs_without_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise AuthenticationError("the signed header is not a JSON object") from exc
    except BadRequestError as exc:
        raise AuthenticationError(str(exc)) from exc
    if not isinstance(parsed, dict):
        raise AuthenticationError("the signed header is not a JSON object")
    values: dict[str, list[str]] = {}
    for key, value in parsed.items():
        if not isinstance(value, str) or not key.lower().startswith(PREFIX):
            raise AuthenticationError(f"the signed header holds an invalid entry {key!r}")
        values.setdefault(key[len(PREFIX) :].lower(), []).append(value)
    system_ids = set(values.get("systemid", ()))
    if len(system_ids) != 1:
        raise AuthenticationError("the signed header names no single systemid")
    system_id = system_ids.pop()
    secret = secret_of(system_id)
    expected = hmac.new((secret or "").encode("utf-8"), signed, hashlib.sha256).hexdigest()
    given = mac.decode("latin-1").strip().lower()
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("latin-1")) or not secret:
        raise AuthenticationError(f"the signature of system {system_id} does not verify")
    for key, value in parsed.items():
        sent = headers.get(key.lower().encode("latin-1"), [])
        if value.encode("utf-8") not in sent:
            raise AuthenticationError(f"header {key} differs from its signed value")
    return SignedParameters(system_id, {k: tuple(v) for k, v in values.items()})


def sign_parameters(
    system_id: str, secret: str, parameters: Sequence[tuple[str, str]]
) -> dict[str, str]:
    """The headers the hub's SDK sends for ``parameters`` (for tests and examples).

    ``parameters`` are (name, value) in the order the SDK iterates them; ``systemid``
    comes first unless given.
    """
    entries = list(parameters)
    if not any(k.lower() == "systemid" for k, _ in entries):
        entries.insert(0, ("systemid", system_id))
    signed = json.dumps(
        {f"XroadVnpt-{k}": v for k, v in entries}, separators=(",", ":"), ensure_ascii=False
    )
    mac = hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), hashlib.sha256).hexdigest()
    headers = {f"XroadVnpt-{k}": v for k, v in entries}
    headers["XroadVnpt-sign-header-key"] = ";".join(k for k, _ in entries)
    headers["XroadVnpt-sign-header"] = signed
    headers["XroadVnpt-hash-header"] = mac
    headers["User-Agent"] = "JAVASDKAgent/1.0.0 XRoad/VPCP"
    headers["XroadVnpt-version"] = "3.0.201608"
    return headers
