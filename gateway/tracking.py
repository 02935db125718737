"""The tracker's view of what a system sent, when a tracker database is reachable.

``getSentEdocList`` answers from the outbox (what was accepted, which 01s came back)
and, where the tracker knows more, from the tracker: whether the router queued the
package for a recipient (``DELIVERED``), refused it, and the time of each status step.
A gateway without a reachable tracker database answers from the outbox alone.
"""

from __future__ import annotations

from sqlalchemy import Engine

from bus import DocumentStatus, Settings, create_store_engine, document_status, get_logger
from edxml.errors import EdxbusError

__all__ = ["TrackerView"]

_log = get_logger("gateway.tracking")


class TrackerView:
    """Read-only questions to the tracker's database (``EDX_DB_URL``)."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.resolved_db_url
        self._engine: Engine | None = None

    def status(self, document_id: str) -> DocumentStatus | None:
        """What the tracker knows of a document, or ``None`` (unknown, or no tracker)."""
        try:
            if self._engine is None:
                self._engine = create_store_engine(
                    self._url, must_exist=True, written_by="the tracker"
                )
            return document_status(self._engine, document_id)
        except EdxbusError as exc:
            _log.debug("tracker has no answer for %s: %s", document_id, exc)
            return None

    def close(self) -> None:
        """Release the tracker database's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
