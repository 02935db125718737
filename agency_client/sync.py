"""``BlockingAgencyClient``: the SDK for office software that is not async.

The async :class:`~agency_client.client.AgencyClient` runs on an event loop in a
private thread owned by the wrapper; each blocking method hands one coroutine to
that loop and waits for its result. The background work (inbox reader,
re-submitter) therefore keeps running between calls, as it does in async code.
Calls from several threads are serialised by the loop. Close the client (or use
``with``) so the thread ends::

    with BlockingAgencyClient(settings, "000.00.24.H44") as client:
        for item in client.receive(idle_timeout=5):
            file_into_registry(item)
        client.report(doc_id, "03", "Đã vào sổ")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from agency_client._inbox_store import QuarantinedPackage
from agency_client.client import AgencyClient
from agency_client.errors import ClientNotStartedError
from agency_client.items import InboxItem
from agency_client.outbox import OutboxEntry, RecipientStatus
from bus import Settings
from edxml import DocumentPackage, StatusCode

__all__ = ["BlockingAgencyClient"]

T = TypeVar("T")


class BlockingAgencyClient:
    """The blocking twin of :class:`AgencyClient`; same arguments, same methods."""

    def __init__(self, settings: Settings, agency: str, **options: Any) -> None:
        self._options = options
        self._settings = settings
        self.agency = agency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: AgencyClient | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the private event loop and the async client on it."""
        if self._client is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name=f"edx-agency-{self.agency}", daemon=True
        )
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            client = self._call(self._make_and_start())
        except BaseException:
            self._shutdown_loop()
            raise
        self._client = client

    async def _make_and_start(self) -> AgencyClient:
        client = AgencyClient(self._settings, self.agency, **self._options)
        await client.start()
        return client

    def close(self, *, settle: bool = True) -> None:
        """Stop the client (settling the last package taken) and end the thread."""
        client, self._client = self._client, None
        try:
            if client is not None:
                self._call(client.stop(settle=settle))
        finally:
            self._shutdown_loop()

    def __enter__(self) -> BlockingAgencyClient:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.close(settle=exc_type is None)

    # --- the SDK, blocking -------------------------------------------------------

    def send(self, document: DocumentPackage | bytes) -> str:
        """See :meth:`AgencyClient.send`."""
        return self._call(self._require().send(document))

    def report(
        self, document_id: str, status: StatusCode | str, description: str = ""
    ) -> OutboxEntry:
        """See :meth:`AgencyClient.report`."""
        return self._call(self._require().report(document_id, status, description))

    def take_back(self, document_id: str, description: str = "") -> OutboxEntry:
        """See :meth:`AgencyClient.take_back`."""
        return self._call(self._require().take_back(document_id, description))

    def revoke(self, document_id: str, reason: str, **fields: Any) -> str:
        """See :meth:`AgencyClient.revoke`."""
        return self._call(self._require().revoke(document_id, reason, **fields))

    def update(self, document_id: str, reason: str, **fields: Any) -> str:
        """See :meth:`AgencyClient.update`."""
        return self._call(self._require().update(document_id, reason, **fields))

    def replace(self, document_id: str, reason: str, **fields: Any) -> str:
        """See :meth:`AgencyClient.replace`."""
        return self._call(self._require().replace(document_id, reason, **fields))

    def receive(self, *, idle_timeout: float | None = None) -> Iterator[InboxItem]:
        """Packages from the inbox, one per ``next()``; see :meth:`AgencyClient.receive`."""
        inbox = self._require().receive(idle_timeout=idle_timeout)

        async def next_item() -> InboxItem | None:
            try:
                return await inbox.__anext__()
            except StopAsyncIteration:
                return None

        while True:
            item = self._call(next_item())
            if item is None:
                return
            yield item

    def acknowledge(self, item: InboxItem) -> None:
        """See :meth:`AgencyClient.acknowledge`."""
        self._call(self._require().acknowledge(item))

    def wait_delivered(self, document_id: str, timeout: float) -> OutboxEntry:
        """See :meth:`AgencyClient.wait_delivered`."""
        return self._call(self._require().wait_delivered(document_id, timeout))

    def wait_for_status(
        self,
        document_id: str,
        status: StatusCode | str,
        timeout: float,
        *,
        recipients: Sequence[str] | None = None,
    ) -> list[RecipientStatus]:
        """See :meth:`AgencyClient.wait_for_status`."""
        return self._call(
            self._require().wait_for_status(document_id, status, timeout, recipients=recipients)
        )

    def sent(self, document_id: str) -> OutboxEntry:
        """See :meth:`AgencyClient.sent`."""
        return self._call(self._sync(lambda c: c.sent(document_id)))

    def pending(self) -> list[OutboxEntry]:
        """See :meth:`AgencyClient.pending`."""
        return self._call(self._sync(lambda c: c.pending()))

    def statuses(self, document_id: str) -> list[RecipientStatus]:
        """See :meth:`AgencyClient.statuses`."""
        return self._call(self._sync(lambda c: c.statuses(document_id)))

    def quarantined(self) -> list[QuarantinedPackage]:
        """See :meth:`AgencyClient.quarantined`."""
        return self._call(self._sync(lambda c: c.quarantined()))

    # --- internals ---------------------------------------------------------------

    async def _sync(self, call: Callable[[AgencyClient], T]) -> T:
        return call(self._require())

    def _require(self) -> AgencyClient:
        if self._client is None:
            raise ClientNotStartedError(
                f"the client of {self.agency} is not started (use 'with' or start())"
            )
        return self._client

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise ClientNotStartedError(f"the client of {self.agency} is not started")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()
