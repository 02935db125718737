"""The embedded stack (what `edx up` runs) across a restart of its memory-only broker.

A document is routed into a recipient's inbox; the bus stops before the recipient
reads it, and the embedded broker forgets everything. On the next start the stack
gives the broker the directory back, the router (which remembers the document)
writes the sender's outbox re-submission to the lost inbox again, and the
recipient gets it: exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agency_client import AgencyClient, IncomingDocument
from bus.embedded import EmbeddedStack, free_port
from bus.settings import Settings
from demo import register_agencies
from edxml import new_document
from tests.restart_scenario import (
    NGHE_AN,
    VINH_CITY,
    documents_across_a_restart,
    until_delivered,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


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
        await until_delivered(stack.settings, document_id, VINH_CITY.code)
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


async def test_running_clients_carry_on_across_a_restart_of_the_stack(tmp_path: Path) -> None:
    """`edx up` stopped (SIGTERM) and started again while the agencies' software runs:
    every pending document is recovered, none reaches the recipient twice."""
    settings = Settings.of(home=tmp_path / ".edx", bootstrap=f"127.0.0.1:{free_port()}")
    stack = EmbeddedStack(settings, prepare=register_agencies)
    await stack.start()
    running = stack.settings

    async def start_again() -> None:
        nonlocal stack
        stack = EmbeddedStack(settings)
        await stack.start()
        assert stack.settings.broker.bootstrap == running.broker.bootstrap

    try:
        # stack.stop is what SIGTERM does to edx up: the broker forgets everything.
        taken, everything = await documents_across_a_restart(running, stack.stop, start_again)
    finally:
        await stack.stop()
    assert sorted(taken) == sorted(everything), "each document taken once"
