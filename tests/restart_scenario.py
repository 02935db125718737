"""The agencies' software carrying on while the bus restarts: one scenario, two buses.

`edx up` as a process (tests/cli/test_services.py) and the embedded stack it runs
(tests/test_embedded_stack.py) make the same promise: documents sent before, during
and after a stop are all recovered, and none reaches the recipient twice. The
scenario is written once here; each test says how its bus stops and starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agency_client import AgencyClient
from bus.errors import DatabaseError, UnknownDocumentError
from bus.settings import Settings
from bus.store import create_store_engine, document_status
from demo import load_scenario
from edxml import DocumentPackage, new_document
from tests.agency_client.helpers import documents_taken

NGHE_AN, VINH_CITY = map(load_scenario().agency, ("000.00.00.H41", "000.00.32.H41"))


async def until_delivered(settings: Settings, document_id: str, recipient: str) -> None:
    """Wait until the tracker records ``document_id`` written to ``recipient``'s inbox."""
    engine = create_store_engine(settings.resolved_db_url)
    try:
        for _ in range(300):
            try:
                status = await asyncio.to_thread(document_status, engine, document_id)
            except (UnknownDocumentError, DatabaseError):  # not recorded, or not migrated yet
                status = None
            if status is not None and any(
                r.recipient == recipient and r.delivered_at is not None for r in status.recipients
            ):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{document_id} never reached {recipient}")
    finally:
        engine.dispose()


def invitation(number: int) -> DocumentPackage:
    """Nghệ An's invitation number ``100 + number`` to Vinh city."""
    return new_document(
        NGHE_AN.code,
        [VINH_CITY.code],
        number=str(100 + number),
        notation="UBND-VP",
        subject=f"Giấy mời họp {number}",
        signer_name="Nguyễn Văn Đệ",
    )


async def documents_across_a_restart(
    settings: Settings,
    stop_bus: Callable[[], Awaitable[None]],
    start_bus: Callable[[], Awaitable[None]],
) -> tuple[list[str], list[str]]:
    """What the recipient took, and what was sent, around a stop and start of the bus.

    Three documents are taken before the stop, three wait unread in the inbox the
    stop loses, two are sent while the bus is down; the sender's outbox must be
    settled by the end.
    """
    async with (
        AgencyClient(settings, NGHE_AN.code, resubmit_after=2.0, publish_timeout=3.0) as sender,
        AgencyClient(settings, VINH_CITY.code) as recipient,
    ):
        sent = [await sender.send(invitation(n)) for n in range(3)]
        taken = await documents_taken(recipient, set(sent), within=60)
        routed = [await sender.send(invitation(n)) for n in range(3, 6)]
        for document_id in routed:  # in the recipient's inbox, unread
            await until_delivered(settings, document_id, VINH_CITY.code)
        await stop_bus()
        kept = [await sender.send(invitation(n)) for n in range(6, 8)]
        await start_bus()
        taken += await documents_taken(recipient, {*routed, *kept}, within=120)
        for document_id in [*sent, *routed, *kept]:
            await sender.wait_delivered(document_id, timeout=60)
        assert sender.pending() == []
    return taken, [*sent, *routed, *kept]
