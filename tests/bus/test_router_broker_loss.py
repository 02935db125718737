"""A broker that loses its data (the embedded Tansu keeps memory only) loses no document.

The router remembers deliveries in its store; when the sender's outbox re-submits
the same bytes after the broker came back empty, the router must see that the
recorded copies are gone from the inboxes and write them again, not skip them as
a retry it has already served.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker
from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_events,
    read_topic,
    register,
    route,
    signed,
    submit,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SENDER = "000.00.00.G22"
RECIPIENTS = ["000.00.00.H41", "000.00.00.H44"]


async def test_retry_after_broker_data_loss_delivers_again(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer], tmp_path: Path
) -> None:
    package = document(SENDER, RECIPIENTS)
    data = signed(package, signer_for(SENDER))

    async def one_life(log: str, first: bytes | None = None) -> tuple[Settings, list[bytes | None]]:
        async with EmbeddedBroker(log_path=tmp_path / log) as broker:
            settings = bus_settings.with_values(bootstrap=broker.bootstrap).with_overrides(
                pki=pki_dir
            )
            await register(settings, signer_for, [SENDER, *RECIPIENTS])
            if first is not None:
                await submit(settings, first, sender=SENDER)
            await submit(settings, data, sender=SENDER, document_id=package.document_id)
            async with quick_router(settings) as router:
                await route(router, 2 if first is not None else 1)
            inboxes = [
                r.value
                for code in RECIPIENTS
                for r in await read_topic(settings, settings.topics.inbox(code))
            ]
            delivered = [
                e["recipient"]
                for e in await read_events(settings)
                if e["kind"] == "DELIVERED" and e["document_id"] == package.document_id
            ]
            assert sorted(delivered) == RECIPIENTS
        return settings, inboxes

    _, first = await one_life("first.log")
    assert first == [data, data]
    # The broker restarts empty; the router's store (same home) still remembers.
    # Another document reaches the new inboxes first and takes the offsets where
    # the lost copies used to be: only the digest there tells the copies are gone.
    newer = signed(document(SENDER, RECIPIENTS, subject="Văn bản mới"), signer_for(SENDER))
    _, second = await one_life("second.log", first=newer)
    assert second == [newer, data, newer, data]
