"""What whoever runs the brokers can do to the bus's record, for the audit tests.

The replay (``edx replay``) and the log audit must both notice ``edx.submit``
rewritten under them; they share one way of rewriting it.
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient

from bus.kafka import make_admin, make_producer, started
from bus.settings import Settings


async def rewrite_submit_topic(settings: Settings, records: int) -> None:
    """Delete ``edx.submit`` and fill it again with ``records`` records of other bytes."""
    async with started(make_admin(settings)) as admin:
        await admin.delete_topics([settings.topics.submit])
        await _until_gone(admin, settings.topics.submit)
    async with started(make_producer(settings)) as producer:
        for _ in range(records):
            await producer.send_and_wait(settings.topics.submit, b"other bytes", partition=0)


async def _until_gone(admin: AIOKafkaAdminClient, topic: str) -> None:
    """Wait until the broker no longer lists ``topic``: a record written while it is
    still being deleted would go down with it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while topic in await admin.list_topics():
        if loop.time() > deadline:
            raise AssertionError(f"the broker still lists {topic} 30 s after deleting it")
        await asyncio.sleep(0.05)
