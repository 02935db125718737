"""What an agency client holds, declared once: its settings, the parts it runs on
once started, and the bookkeeping of its background work.

:class:`agency_client.client.AgencyClient` is assembled from parts that each own one
job (connecting, publishing and re-submitting, follow-up documents, waiting for
answers); they share this state, typed here so each part type-checks on its own,
and the client sets it in its constructor.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agency_client._inbox_store import InboxStore
from agency_client.errors import ClientNotStartedError
from agency_client.inbox import InboxReader
from agency_client.outbox import Outbox, OutboxEntry, RecipientStatus
from agency_client.tuning import ClientTuning
from bus import Settings
from edxml import DocumentPackage
from signing import Signer, Verifier

__all__ = ["ClientState"]


@dataclass
class _Parts:
    """What :class:`AgencyClient` runs on once started (the link fills in on connecting)."""

    signer: Signer
    verifier: Verifier
    outbox: Outbox
    store: InboxStore
    reader: InboxReader
    producer: Any | None = None
    consumer: Any | None = None
    # The producer answered an error aiokafka does not retry: replace it before its next use.
    producer_failed: bool = False


class ClientState:
    """The attributes and methods every part of the client uses (set by ``AgencyClient``)."""

    settings: Settings
    agency: str
    resubmit_after: float
    publish_timeout: float
    group_id: str
    tuning: ClientTuning
    _parts: _Parts | None
    _publishing: set[str]
    # digest -> (failed publications in a row, loop time before which it is not tried)
    _retry_at: dict[str, tuple[int, float]]
    _renewing: asyncio.Lock
    _background: set[asyncio.Task[None]]
    _changed: asyncio.Event

    if TYPE_CHECKING:  # defined by AgencyClient

        async def send(self, document: DocumentPackage | bytes) -> str: ...

        def sent(self, document_id: str) -> OutboxEntry: ...

        def statuses(self, document_id: str) -> list[RecipientStatus]: ...

    def _require(self) -> _Parts:
        if self._parts is None:
            raise ClientNotStartedError(
                f"the client of {self.agency} is not started (use 'async with' or start())"
            )
        return self._parts
