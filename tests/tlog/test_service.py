"""The log service on a real broker and database: leaves, checkpoints, tokens, restarts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, select

from bus import Settings, ensure_topics, make_consumer
from bus.lifecycle import EventKind, LifecycleEvent
from bus.store import create_store_engine
from bus.tlog import TIMESTAMP_HEADER, LogService, LogSettings, LogStore, upgrade
from bus.tlog.schema import leaves
from signing import (
    DevPki,
    load_log_verifier,
    open_checkpoint,
    root_hash,
    verify_inclusion,
    verify_timestamp,
)
from tests.fixtures.broker import unique_name
from tests.fixtures.demo import EDX
from tests.tlog._events import event
from tests.tlog._feed import log_db, log_environment, produce_events
from tests.tlog._tools import openssl_ts_verifies

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ORIGIN = "edxbus.test/log"


def _events(start: int, count: int) -> list[LifecycleEvent]:
    kinds = list(EventKind)
    return [event(kinds[n % 4], n, recipient="000.00.00.H41") for n in range(start, start + count)]


def _leaf_count(events: list[LifecycleEvent]) -> int:
    return len({e.event_id for e in events if e.kind is not EventKind.DELIVERED})


async def _until(condition: Callable[[], bool], what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
def log_bus(bus_settings: Settings, dev_pki: DevPki) -> Settings:
    return bus_settings.with_overrides(pki=dev_pki.directory)


def _log_settings(tmp_path: Path) -> LogSettings:
    return LogSettings(
        db_url=log_db(tmp_path),
        origin=ORIGIN,
        topic=f"{unique_name()}.edx.checkpoints",
        checkpoint_seconds=0.5,
    )


async def test_the_log_appends_decisions_and_publishes_timestamped_checkpoints(
    log_bus: Settings, dev_pki: DevPki, tmp_path: Path
) -> None:
    await ensure_topics(log_bus)
    events = _events(0, 40)
    await produce_events(log_bus, [*events, *events[:10]])  # the router re-emitting ten
    log_settings = _log_settings(tmp_path)
    stop = asyncio.Event()
    async with LogService(log_bus, log_settings) as service:
        task = asyncio.create_task(service.run(stop))
        try:
            await _until(lambda: service.size == _leaf_count(events), "every leaf")
            stored = await service.checkpoint()
        finally:
            stop.set()
            await task
        hashes = service.store.leaf_hashes()
    verifier = load_log_verifier(dev_pki.directory)
    checkpoint = open_checkpoint(stored.note, [verifier])
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 30)
    assert checkpoint.root_hash == root_hash(hashes)
    for index in (0, 17, 29):
        proof = service.store.inclusion_proof(index, 30)
        verify_inclusion(hashes[index], index, 30, proof, checkpoint.root_hash)
    assert stored.timestamp_token is not None
    anchors = [x509.load_pem_x509_certificate(dev_pki.root_cert_path.read_bytes())]
    verify_timestamp(stored.timestamp_token, stored.note, anchors)
    (tmp_path / "checkpoint").write_bytes(stored.note)
    (tmp_path / "checkpoint.tsr").write_bytes(stored.timestamp_token)
    assert openssl_ts_verifies(
        tmp_path / "checkpoint", tmp_path / "checkpoint.tsr", dev_pki.root_cert_path
    )
    # The checkpoint went out on the compacted topic, with its token.
    consumer = make_consumer(log_bus, log_settings.topic)
    await consumer.start()
    try:
        seen: dict[bytes, Any] = {}
        deadline = time.monotonic() + 60
        while stored.note not in seen and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                seen.update({r.value: r for r in records})
    finally:
        await consumer.stop()
    record = seen[stored.note]
    assert record.key == ORIGIN.encode()
    assert dict(record.headers)[TIMESTAMP_HEADER] == stored.timestamp_token


async def test_positions_of_a_log_the_broker_lost_are_read_again_from_the_start(
    log_bus: Settings, tmp_path: Path
) -> None:
    """The log's stored positions came from an edx.events the broker has since lost
    (the embedded broker restarted empty): they lie past the new log's end, where the
    broker answers with nothing. The log reads those partitions again from the start,
    so the decisions of the new log are appended, each once."""
    await ensure_topics(log_bus)
    log_settings = _log_settings(tmp_path)
    engine = create_store_engine(log_settings.db_url)
    try:
        upgrade(engine)
        old_ends = {
            (log_bus.topics.events, p): 1_000 for p in range(log_bus.topic_layout.partitions)
        }
        LogStore(engine).append([], old_ends)
    finally:
        engine.dispose()
    events = _events(0, 12)
    await produce_events(log_bus, events)
    stop = asyncio.Event()
    async with LogService(log_bus, log_settings, poll_seconds=0.1) as service:
        task = asyncio.create_task(service.run(stop))
        try:
            await _until(lambda: service.size == _leaf_count(events), "the new log's leaves", 60)
        finally:
            stop.set()
            await task
        positions = service.store.positions(log_bus.topics.events)
    assert _count(log_settings.db_url)[:2] == (_leaf_count(events), _leaf_count(events))
    assert all(offset < 1_000 for offset in positions.values())


def _count(url: str) -> tuple[int, int, int]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(
                    func.count(),
                    func.count(func.distinct(leaves.c.event_id)),
                    func.coalesce(func.max(leaves.c.leaf_index), -1),
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        engine.dispose()


def _start(
    env: dict[str, str], tmp_path: Path, name: str, command: list[str]
) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.out").open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


async def test_a_log_killed_mid_stream_resumes_without_gaps_or_duplicates(
    log_bus: Settings, dev_pki: DevPki, tmp_path: Path
) -> None:
    await ensure_topics(log_bus)
    first = _events(0, 4000)
    await produce_events(log_bus, first)
    log_settings = _log_settings(tmp_path)
    engine = create_store_engine(log_settings.db_url)
    upgrade(engine)  # so the test can count from the start
    engine.dispose()
    env = log_environment(log_bus, log_settings)
    # First as a module, then as the installed command: both are the same service.
    process = _start(env, tmp_path, "first", [sys.executable, "-m", "bus.tlog"])
    try:
        await _until(lambda: _count(log_settings.db_url)[0] > 0, "the first leaves")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    killed_at = _count(log_settings.db_url)[0]
    second = _events(4000, 1000)
    await produce_events(log_bus, [*second, *first[:100]])
    process = _start(env, tmp_path, "second", [str(EDX), "log", "run"])
    expected = _leaf_count([*first, *second])
    try:
        await _until(lambda: _count(log_settings.db_url)[0] >= expected, "every leaf")
        await asyncio.sleep(1)  # anything extra (a duplicate) would land now
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, (tmp_path / "second.out").read_text()
    total, distinct, last = _count(log_settings.db_url)
    assert (total, distinct, last) == (expected, expected, expected - 1), killed_at
    engine = create_store_engine(log_settings.db_url)
    try:
        store = LogStore(engine)
        latest = store.checkpoint()
        hashes = store.leaf_hashes()
    finally:
        engine.dispose()
    assert latest is not None
    assert latest.tree_size == expected  # the last checkpoint on the way out covers all
    checkpoint = open_checkpoint(latest.note, [load_log_verifier(dev_pki.directory)])
    assert checkpoint.root_hash == root_hash(hashes)


async def test_without_a_time_stamping_authority_the_log_still_checkpoints(
    log_bus: Settings, tmp_path: Path
) -> None:
    # A PKI directory without a dev root (trust configured elsewhere) and no EDX_TSA_URL.
    bare = log_bus.with_overrides(pki=tmp_path / "no-dev-pki")
    await ensure_topics(bare)
    await produce_events(bare, _events(0, 4))
    async with LogService(bare, _log_settings(tmp_path)) as service:
        assert service.tsa_url is None
        await _until_step(service, 3)
        stored = await service.checkpoint()
    assert stored.tree_size == 3
    assert stored.timestamp_token is None


async def _until_step(service: LogService, size: int) -> None:
    deadline = time.monotonic() + 60
    while service.size < size:
        assert time.monotonic() < deadline, "leaves did not arrive"
        await service.step()
