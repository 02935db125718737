"""The outboxes of the agencies a gateway acts for, and the one producer that publishes them.

Each agency keeps the SDK's own durable :class:`agency_client.Outbox` (a SQLite file
under the gateway's state directory): a package is written there before the gateway
answers OK, and a document stays there until every recipient's 01 came back. One
background loop re-submits what is due (never published, or silent too long), so a
gateway killed between accepting and publishing publishes after its restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from agency_client import Outbox, OutboxEntry
from bus import Header, Settings, encode_headers, get_logger, make_producer, translate_errors
from edxml.errors import EdxbusError

__all__ = ["Outboxes"]

_log = get_logger("gateway.outboxes")


class Outboxes:
    """Lazily opened outboxes by agency, and their publication to ``edx.submit``."""

    def __init__(self, settings: Settings, directory: Path, *, publish_timeout: float = 15.0):
        self._settings = settings
        self._directory = directory
        self._open: dict[str, Outbox] = {}
        self._opening = threading.Lock()
        self._producer: Any = None
        self._publishing: set[str] = set()
        self.publish_timeout = publish_timeout
        self._next_connect = 0.0  # no reconnect attempt from a request before this time

    def of(self, agency: str) -> Outbox:
        """The outbox of ``agency`` (opened on first use)."""
        outbox = self._open.get(agency)
        if outbox is None:
            with self._opening:  # callers in worker threads open each file once
                outbox = self._open.get(agency)
                if outbox is None:
                    outbox = Outbox(self._directory / f"{agency}.sqlite")
                    self._open[agency] = outbox
        return outbox

    def known_agencies(self) -> list[str]:
        """Agencies with an outbox file (opened or not)."""
        if not self._directory.is_dir():
            return []
        return sorted(p.stem for p in self._directory.glob("*.sqlite"))

    async def start(self) -> None:
        """Start the producer; a bus that does not answer leaves packages for later."""
        producer = make_producer(self._settings)
        try:
            with translate_errors("starting the gateway's producer"):
                await producer.start()
        except EdxbusError as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            _log.warning("the gateway publishes later, the bus does not answer: %s", exc)
            return
        self._producer = producer

    async def stop(self) -> None:
        """Stop the producer and close every outbox."""
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        for outbox in self._open.values():
            outbox.close()
        self._open.clear()

    async def publish(self, agency: str, entry: OutboxEntry) -> bool:
        """Publish one kept package; ``False`` when it is left for the re-submitter."""
        if self._producer is None:
            loop = asyncio.get_running_loop()
            if loop.time() < self._next_connect:  # the bus was down a moment ago
                return False
            await self.start()
            if self._producer is None:
                self._next_connect = loop.time() + 5.0
                return False
        if entry.digest in self._publishing:
            return False
        self._publishing.add(entry.digest)
        try:
            with translate_errors(f"submitting {entry.document_id}"):
                await asyncio.wait_for(
                    self._producer.send_and_wait(
                        self._settings.topics.submit,
                        value=entry.data,
                        key=agency.encode("utf-8"),
                        headers=encode_headers(
                            {
                                Header.KIND: entry.kind.value,
                                Header.DOCUMENT_ID: entry.document_id,
                                Header.SENDER: agency,
                                Header.DIGEST: entry.digest,
                            }
                        ),
                    ),
                    self.publish_timeout,
                )
        except EdxbusError as exc:
            _log.warning(
                "%s %s of %s kept in the outbox, not yet published: %s",
                entry.kind.value,
                entry.document_id,
                agency,
                exc,
                document_id=entry.document_id,
                agency=agency,
            )
            return False
        finally:
            self._publishing.discard(entry.digest)
        self.of(agency).mark_submitted(entry.kind, entry.document_id, entry.digest)
        return True

    async def resubmit_due(self) -> int:
        """Publish whatever every outbox holds as due; how many packages went out."""
        after = timedelta(seconds=self._settings.delivery.resubmit_after_seconds)
        count = 0
        for agency in self.known_agencies():
            for entry in self.of(agency).due_for_resubmit(after):
                if await self.publish(agency, entry):
                    count += 1
        return count

    async def run_resubmitter(self, interval: float = 1.0) -> None:
        """Re-submit what is due until cancelled."""
        while True:
            try:
                sent = await self.resubmit_due()
                if sent:
                    _log.info("the gateway re-submitted %d package(s)", sent)
            except EdxbusError as exc:
                _log.warning("re-submission failed: %s", exc)
            await asyncio.sleep(interval)
