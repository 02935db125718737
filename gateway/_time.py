"""UTC-aware timestamps and the hub's time format."""

from __future__ import annotations

from datetime import UTC, datetime

from edxml import VIETNAM_TIME

__all__ = ["hub_time", "utc_now"]


def utc_now() -> datetime:
    """Now, UTC-aware."""
    return datetime.now(UTC)


def hub_time(moment: datetime | None) -> str:
    """ISO 8601 in Vietnam time, as the hub's lists show it; ``""`` for no moment."""
    if moment is None:
        return ""
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")
