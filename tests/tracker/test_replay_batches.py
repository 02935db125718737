"""The end of a partition is the offset after its last record, on every broker.

Tansu lists the end of a partition (ListOffsets "latest") as the first offset of
its last record batch plus one. A producer that batches (every real one does)
leaves several records in that last batch, and a reader that stops at the listed
end misses them: the replay reported the tracker's steps as missing from the log.
These run on an embedded broker of their own, whatever the session's broker is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.structs import TopicPartition
from click.testing import CliRunner

from bus.embedded import EmbeddedBroker
from bus.kafka import make_consumer, make_producer, partition_ends, started
from bus.settings import Settings
from bus.store import create_store_engine, upgrade
from bus.topics import ensure_topics
from cli.main import cli
from signing import Signer
from tests.bus.routing_helpers import document, quick_router, register, route, signed
from tests.tracker.kafka_helpers import count_rows, running_tracker, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PROVINCE = "000.00.00.H41"
RECIPIENTS = ["000.00.01.H41", "000.00.20.H41"]
DOCUMENTS = 80


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[str]:
    """A Tansu broker of this test's own."""
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        yield broker.bootstrap


async def _batched(settings: Settings, topic: str, values: list[bytes], key: bytes) -> None:
    """Write ``values`` the way a busy client does: many records per batch."""
    producer = make_producer(settings, linger_ms=200)
    async with started(producer):
        sent = [await producer.send(topic, value, key=key) for value in values]
        await asyncio.gather(*sent)


async def test_partition_ends_count_every_record_of_the_last_batch(
    bus_settings: Settings, embedded: str
) -> None:
    settings = bus_settings.with_values(bootstrap=embedded, partitions=1)
    await ensure_topics(settings)
    topic = settings.topics.events
    await _batched(settings, topic, [b"%d" % n for n in range(17)], b"k")
    tp = TopicPartition(topic, 0)
    async with started(make_consumer(settings, group_id=None)) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, 3)
        assert (await partition_ends(consumer, [tp]))[tp] == 17
        assert await consumer.position(tp) == 3  # left where it was


async def test_replay_is_clean_after_many_batched_documents(
    bus_settings: Settings,
    embedded: str,
    pki_dir: Path,
    signer_for: Callable[[str], Signer],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = bus_settings.with_values(bootstrap=embedded, pki=pki_dir, db_url=sqlite_url)
    await ensure_topics(settings)
    await register(settings, signer_for, [PROVINCE, *RECIPIENTS])
    upgrade(sqlite_url)
    reader = create_store_engine(sqlite_url)
    packages = [
        signed(document(PROVINCE, RECIPIENTS), signer_for(PROVINCE)) for _ in range(DOCUMENTS)
    ]
    try:
        await _batched(settings, settings.topics.submit, packages, PROVINCE.encode())
        steps = DOCUMENTS * (1 + len(RECIPIENTS))
        async with quick_router(settings) as router, running_tracker(settings):
            await route(router, DOCUMENTS, within=120.0)
            await wait_for(
                lambda: count_rows(reader) == steps, within=120.0, what="every step recorded"
            )
    finally:
        reader.dispose()
    for name, value in {
        "EDX_BOOTSTRAP": settings.broker.bootstrap,
        "EDX_PKI": str(pki_dir),
        "EDX_DB_URL": sqlite_url,
        "EDX_HOME": str(settings.home),
        "EDX_TOPIC_SUBMIT": settings.topics.submit,
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    # The CLI runs its own event loop: run it in a thread, away from the test's loop.
    result = await asyncio.to_thread(runner.invoke, cli, ["replay", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)  # nothing but the JSON document
    assert report["packages"] == DOCUMENTS, report
