"""The embedded stack (what `edx up` runs) across a restart of its memory-only broker.

A document is routed into a recipient's inbox; the bus stops before the recipient
reads it, and the embedded broker forgets everything. On the next start the stack
gives the broker the directory back, the router (which remembers the document)
writes the sender's outbox re-submission to the lost inbox again, and the
recipient gets it: exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agency_client import AgencyClient, IncomingDocument
from bus.embedded import EmbeddedStack, free_port
from bus.errors import DatabaseError, UnknownDocumentError
from bus.settings import Settings
from bus.store import create_store_engine, document_status
from demo import load_scenario, register_agencies
from edxml import DocumentPackage, new_document

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

NGHE_AN, VINH_CITY = map(load_scenario().agency, ("000.00.00.H41", "000.00.32.H41"))


async def _until_delivered(settings: Settings, document_id: str, recipient: str) -> None:
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


async def test_outbox_resubmission_reaches_inboxes_the_restarted_broker_lost(
    tmp_path: Path,
) -> None:
    settings = Settings.of(home=tmp_path / ".edx", bootstrap=f"127.0.0.1:{free_port()}")
    document = new_document(
        NGHE_AN.code,
        [VINH_CITY.code],
        number="7",
        notation="UBND-VP",
        subject="Giấy mời họp",
        signer_name="Nguyễn Văn Đệ",
    )

    stack = EmbeddedStack(settings, prepare=register_agencies)
    async with stack, AgencyClient(stack.settings, NGHE_AN.code) as sender:
        document_id = await sender.send(document)
        await _until_delivered(stack.settings, document_id, VINH_CITY.code)
    # The broker is gone, and with it the inbox that held the document, unread.

    restarted = EmbeddedStack(settings)
    async with (
        restarted,
        AgencyClient(restarted.settings, NGHE_AN.code, resubmit_after=1.0) as sender,
        AgencyClient(restarted.settings, VINH_CITY.code) as recipient,
    ):
        seen = []
        async for item in recipient.receive(idle_timeout=30):
            if isinstance(item, IncomingDocument):
                seen.append(item.document_id)
                await recipient.acknowledge(item)
                break
        await sender.wait_delivered(document_id, timeout=30)
        seen += [
            item.document_id
            async for item in recipient.receive(idle_timeout=3)
            if isinstance(item, IncomingDocument)
        ]
    assert seen == [document_id]


def _invitation(number: int) -> DocumentPackage:
    return new_document(
        NGHE_AN.code,
        [VINH_CITY.code],
        number=str(100 + number),
        notation="UBND-VP",
        subject=f"Giấy mời họp {number}",
        signer_name="Nguyễn Văn Đệ",
    )


async def _taken(client: AgencyClient, wanted: set[str], within: float) -> list[str]:
    """Documents taken until all of ``wanted`` came, then 3 quiet seconds more."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not wanted <= set(seen):
        assert loop.time() < deadline, f"only {seen} of {wanted}"
        async for item in client.receive(idle_timeout=1):
            if isinstance(item, IncomingDocument):
                seen.append(item.document_id)
    seen += [
        i.document_id
        async for i in client.receive(idle_timeout=3)
        if isinstance(i, IncomingDocument)
    ]
    return seen


async def test_running_clients_carry_on_across_a_restart_of_the_stack(tmp_path: Path) -> None:
    """`edx up` stopped (SIGTERM) and started again while the agencies' software runs:
    every pending document is recovered, none reaches the recipient twice."""
    settings = Settings.of(home=tmp_path / ".edx", bootstrap=f"127.0.0.1:{free_port()}")
    stack = EmbeddedStack(settings, prepare=register_agencies)
    await stack.start()
    try:
        running = stack.settings
        async with (
            AgencyClient(running, NGHE_AN.code, resubmit_after=2.0, publish_timeout=3.0) as sender,
            AgencyClient(running, VINH_CITY.code) as recipient,
        ):
            sent = [await sender.send(_invitation(n)) for n in range(3)]
            taken = await _taken(recipient, set(sent), within=60)
            routed = [await sender.send(_invitation(n)) for n in range(3, 6)]
            for document_id in routed:  # in the recipient's inbox, unread
                await _until_delivered(running, document_id, VINH_CITY.code)
            await stack.stop()  # what SIGTERM does to edx up: the broker forgets everything
            kept = [await sender.send(_invitation(n)) for n in range(6, 8)]
            stack = EmbeddedStack(settings)
            await stack.start()
            assert stack.settings.broker.bootstrap == running.broker.bootstrap
            taken += await _taken(recipient, {*routed, *kept}, within=120)
            for document_id in [*sent, *routed, *kept]:
                await sender.wait_delivered(document_id, timeout=60)
            assert sender.pending() == []
    finally:
        await stack.stop()
    assert sorted(taken) == sorted([*sent, *routed, *kept]), "each document taken once"
