"""The gateway's own settings, beside the bus's ``Settings``.

Read from ``EDX_GATEWAY_*`` variables; defaults keep the gateway's state under
``$EDX_HOME/gateway``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from bus import Settings
from bus.errors import ConfigError
from gateway.answers import DEFAULT_ANSWERS_KEPT_FOR

__all__ = ["GatewayConfig"]


@dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway keeps its state, and the limits of its HTTP surface."""

    #: The gateway's database (SQLAlchemy URL): systems, inbox items, idempotency.
    db_url: str
    #: The outboxes of the agencies it acts for (one SQLite file each, the SDK's ``Outbox``).
    state_dir: Path
    #: The largest request body accepted; bigger uploads are refused while they stream.
    max_upload_bytes: int
    #: How often the inbox reader looks for agencies added to or removed from systems.
    refresh_seconds: float = 2.0
    #: Requests a second each system may make on average (0: no limit), and its burst.
    rate_per_system: float = 50.0
    burst_per_system: int = 200
    #: How long the answer to a write is kept for a repeat with the same key.
    answers_kept_for: timedelta = DEFAULT_ANSWERS_KEPT_FOR

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> GatewayConfig:
        """The configuration for ``settings``; ``EDX_GATEWAY_*`` variables override."""
        env = os.environ if environ is None else environ
        state = Path(env.get("EDX_GATEWAY_HOME") or settings.home / "gateway")
        url = env.get("EDX_GATEWAY_DB_URL") or f"sqlite:///{state / 'gateway.db'}"
        upload_default = settings.packages.max_package_bytes + 4096
        days_default = DEFAULT_ANSWERS_KEPT_FOR / timedelta(days=1)
        return cls(
            db_url=url,
            state_dir=state,
            max_upload_bytes=_number(env, "EDX_GATEWAY_MAX_UPLOAD", upload_default, positive=True),
            rate_per_system=_number(env, "EDX_GATEWAY_RATE", cls.rate_per_system),
            burst_per_system=_number(env, "EDX_GATEWAY_BURST", cls.burst_per_system),
            answers_kept_for=timedelta(
                days=_number(env, "EDX_GATEWAY_ANSWER_DAYS", days_default, positive=True)
            ),
        )


_N = TypeVar("_N", int, float)


def _number(env: Mapping[str, str], name: str, default: _N, *, positive: bool = False) -> _N:
    """The number in variable ``name`` (of ``default``'s type), or ``default`` when unset;
    one that is not a number, or below its bound, is a ConfigError naming the variable."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{name}={raw!r} must be {'above' if positive else 'at least'} 0")
    return value
