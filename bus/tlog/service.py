"""The transparency log service (DESIGN.md §4): router decisions in, signed checkpoints out.

It reads ``edx.events``, the router's own record of what it decided, and appends
one leaf per ``SUBMITTED`` (a document accepted), ``STATUS`` (a status package
accepted) and ``REJECTED`` (a refusal) to the Merkle tree, in the order it reads
them (per document, the order the router decided them: events are keyed by
document id). Why this shape:

- **One writer, positions with rows.** The log reads every partition without a
  consumer group and keeps its position in its own database, written in the same
  transaction as the leaves (:meth:`LogStore.append`); a crash, even ``kill -9``,
  resumes exactly there. A re-emitted event (the router handling a record twice)
  carries the same event id and is appended once.
- **Batches.** Each fetch of up to ``batch_size`` records is one transaction, so
  the log keeps up with the router at its rate.
- **Checkpoints.** Every ``checkpoint_seconds`` (when the tree grew) and on
  demand, it signs a C2SP checkpoint with the log's key, asks the time-stamping
  authority for an RFC 3161 token over the signed note, stores both and publishes
  them on the compacted checkpoint topic (key: the origin; value: the note;
  header ``edx-timestamp``: the token). An authority that does not answer does not
  stop the log: the checkpoint is published without a token and the next one
  tries again.

Run it with ``edx log run`` (or ``python -m bus.tlog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from sqlalchemy import Engine

from bus._service import AsyncService
from bus.errors import BusError, EventDecodeError
from bus.kafka import (
    LostPartitionWatch,
    background_fetch_wait_ms,
    gather_records,
    make_consumer,
    make_producer,
    translate_errors,
)
from bus.lifecycle import decode_event
from bus.logs import get_logger
from bus.settings import Settings
from bus.store import create_store_engine, redact
from bus.tlog.crls import CrlArchive, current_crl_files
from bus.tlog.errors import LogError, TimestampUnavailableError
from bus.tlog.leaf import Coordinates, LeafRecord, leaf_from_event
from bus.tlog.migrate import upgrade
from bus.tlog.settings import LogSettings
from bus.tlog.store import LogStore, StoredCheckpoint
from bus.tlog.tsa_http import TsaServer, fetch_timestamp
from bus.topics import ensure_checkpoint_topic, ensure_topics
from signing import (
    Checkpoint,
    DevTsa,
    Frontier,
    NoteSigner,
    PkiError,
    load_log_signer,
    sign_checkpoint,
)

__all__ = [
    "CONSISTENCY_FROM_HEADER",
    "CONSISTENCY_PROOF_HEADER",
    "TIMESTAMP_HEADER",
    "LogService",
    "LogStats",
    "checkpoint_now",
    "make_checkpoint",
    "run_log",
]

log = get_logger(__name__)

#: Header of a checkpoint record carrying the RFC 3161 reply over the note.
TIMESTAMP_HEADER = "edx-timestamp"
#: Headers of a checkpoint record proving it extends the previous checkpoint: that
#: checkpoint's tree size (decimal) and the RFC 9162 consistency proof, its 32-byte
#: hashes concatenated.
CONSISTENCY_FROM_HEADER = "edx-consistency-from"
CONSISTENCY_PROOF_HEADER = "edx-consistency-proof"


@dataclass
class LogStats:
    """Counters of one log's life, for logs and tests."""

    batches: int = 0
    appended: int = 0
    duplicates: int = 0
    skipped: int = 0
    checkpoints: int = 0


async def make_checkpoint(
    store: LogStore, signer: NoteSigner, tsa_url: str | None, frontier: Frontier | None = None
) -> StoredCheckpoint:
    """Sign, time-stamp and store a checkpoint of the log's current tree.

    Without ``frontier`` the tree's right edge is read from the store (the CLI's
    on-demand checkpoint); the log service passes the frontier it keeps.
    """
    if frontier is None:
        frontier = await asyncio.to_thread(store.frontier)
    size, root = frontier.size, frontier.root()
    existing = await asyncio.to_thread(store.checkpoint, size)
    if existing is not None and existing.timestamp_token is not None:
        return existing
    note = sign_checkpoint(Checkpoint(signer.name, size, root), signer)
    token = None
    if tsa_url:
        try:
            token = await fetch_timestamp(tsa_url, note)
        except TimestampUnavailableError as error:
            log.warning("checkpoint published without a time-stamp", error=str(error))
    return await asyncio.to_thread(store.save_checkpoint, size, root, note, token)


class LogService(AsyncService):
    """The log as an async context manager: ``async with LogService(settings) as log``.

    ``start()`` migrates the database, loads the tree and the key, starts the dev
    TSA when no ``EDX_TSA_URL`` is set, and starts reading; ``run(stop)`` appends
    and checkpoints until ``stop`` is set; ``stop()`` closes everything it opened.
    """

    def __init__(
        self,
        settings: Settings,
        log_settings: LogSettings | None = None,
        *,
        poll_seconds: float = 0.5,
    ) -> None:
        self.settings = settings
        self.log_settings = log_settings or LogSettings.from_env(settings)
        self.stats = LogStats()
        self._poll_seconds = poll_seconds
        self._engine: Engine | None = None
        self._store: LogStore | None = None
        self._signer: NoteSigner | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._tsa_server: TsaServer | None = None
        self._tsa_url: str | None = self.log_settings.tsa_url
        self._frontier = Frontier()
        self._last_checkpoint_size = -1
        self._last_checkpoint_at = 0.0
        self._stopping = asyncio.Event()
        self._loss_watch = LostPartitionWatch(settings.topics.events)

    # --- life cycle -------------------------------------------------------------

    @property
    def store(self) -> LogStore:
        """The log's store (after ``start()``)."""
        if self._store is None:
            raise LogError("the log is not started")
        return self._store

    @property
    def size(self) -> int:
        """How many leaves the tree holds."""
        return self._frontier.size

    @property
    def tsa_url(self) -> str | None:
        """The time-stamping authority in use (the dev TSA's address when embedded)."""
        return self._tsa_url

    async def start(self) -> None:
        """Open and migrate the store, load the tree and key, connect to the broker."""
        try:
            self._engine = create_store_engine(self.log_settings.db_url)
            await asyncio.to_thread(upgrade, self._engine)
            self._store = LogStore(self._engine)
            await asyncio.to_thread(self._archive_crls)
            self._frontier = await asyncio.to_thread(self._store.frontier)
            latest = await asyncio.to_thread(self._store.checkpoint)
            self._last_checkpoint_size = -1 if latest is None else latest.tree_size
            pki = self.settings.resolved_pki
            self._signer = await asyncio.to_thread(load_log_signer, pki, self.log_settings.origin)
            if self._tsa_url is None:
                await self._start_dev_tsa(pki)
            await ensure_topics(self.settings)
            await ensure_checkpoint_topic(self.settings, self.log_settings.topic)
            producer = make_producer(self.settings)
            with translate_errors("starting the log's producer"):
                await producer.start()
            self._producer = producer
            consumer = make_consumer(
                self.settings,
                max_poll_records=self.log_settings.batch_size,
                fetch_max_wait_ms=background_fetch_wait_ms(self.settings),
            )
            self._consumer = consumer
            with translate_errors("starting the log's consumer"):
                await consumer.start()
                await self._assign(consumer)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "log started",
            database=redact(self.log_settings.db_url),
            origin=self.log_settings.origin,
            size=self._frontier.size,
            tsa=self._tsa_url,
        )

    async def _start_dev_tsa(self, pki: Path) -> None:
        """The development TSA from the dev PKI; without one, checkpoints go unstamped."""
        try:
            tsa = await asyncio.to_thread(DevTsa.from_pki, pki)
        except PkiError as error:
            log.warning(
                "no time-stamping authority: checkpoints are not time-stamped", error=str(error)
            )
            return
        self._tsa_server = TsaServer(tsa)
        self._tsa_server.start()
        self._tsa_url = self._tsa_server.url

    async def stop(self) -> None:
        """Close the consumer, the producer, the dev TSA and the database."""
        self._stopping.set()
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._producer = None
        if self._tsa_server is not None:
            self._tsa_server.stop()
            self._tsa_server = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # --- the loop ---------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Append batches and publish checkpoints until ``stop`` is set."""
        stop = stop or asyncio.Event()
        delay = 0.2
        while not (stop.is_set() or self._stopping.is_set()):
            try:
                await self.step()
                delay = 0.2
            except BusError as error:
                if not error.retriable:
                    raise
                # Broker or database away: the position is safe in the database.
                log.warning("log waiting before retrying", error=str(error), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 10.0)
                continue
            if time.monotonic() - self._last_checkpoint_at >= self.log_settings.checkpoint_seconds:
                await self.checkpoint_if_grown()

    async def step(self) -> int:
        """Fetch and append one batch; how many leaves it added."""
        consumer = self._consumer
        store = self.store
        if consumer is None:
            raise LogError("the log is not started")
        with translate_errors("reading edx.events"):
            fetched = await gather_records(
                consumer,
                poll_ms=int(self._poll_seconds * 1000),
                max_records=self.log_settings.batch_size,
                gather_seconds=self.log_settings.gather_seconds,
                stop=self._stopping,
            )
        records: list[LeafRecord] = []
        ends: dict[tuple[str, int], int] = {}
        for tp, messages in fetched.items():
            for message in messages:
                leaf = self._leaf(tp, message)
                if leaf is not None:
                    records.append(leaf)
            if messages:
                ends[(tp.topic, tp.partition)] = messages[-1].offset + 1
        if not ends:
            # A broker that lost edx.events (Tansu keeps memory only) leaves the stored
            # positions past the new log's end, where Tansu answers with nothing: read
            # such partitions again from the start. The store keeps each event_id
            # once, so what the old log held is not appended twice.
            await self._loss_watch.look(consumer)
            return 0
        try:
            result = await asyncio.to_thread(store.append, records, ends)
        except BusError:
            # Not stored: read the same records again on the next step.
            for tp, messages in fetched.items():
                if messages:
                    consumer.seek(tp, messages[0].offset)
            raise
        for digest in result.hashes:
            self._frontier.append(digest)
        self.stats.batches += 1
        self.stats.appended += len(result.hashes)
        self.stats.duplicates += result.duplicates
        return len(result.hashes)

    def _archive_crls(self) -> None:
        """Keep the CRLs current now, so bundles can carry those current at acceptance."""
        try:
            fresh = CrlArchive(self.store.engine).archive(current_crl_files(self.settings))
        except ValueError as error:  # an unreadable CRL file: the verifier names it too
            log.warning("CRL not archived", error=str(error))
            return
        if fresh:
            log.info("CRLs archived", count=fresh)

    def _leaf(self, tp: TopicPartition, message: Any) -> LeafRecord | None:
        at = Coordinates(tp.topic, tp.partition, message.offset)
        try:
            return leaf_from_event(decode_event(message.value or b""), at)
        except (EventDecodeError, KeyError, TypeError, ValueError) as error:
            # Not a decision the log can name; the tracker quarantines it with its reason.
            self.stats.skipped += 1
            log.warning("event skipped by the log", position=str(at.as_json()), error=str(error))
            return None

    async def checkpoint_if_grown(self) -> StoredCheckpoint | None:
        """Publish a checkpoint if the tree grew since the last one."""
        self._last_checkpoint_at = time.monotonic()
        if self._frontier.size == self._last_checkpoint_size:
            return None
        return await self.checkpoint()

    async def checkpoint(self) -> StoredCheckpoint:
        """Sign, time-stamp, store and publish a checkpoint of the current tree, now."""
        signer = self._signer
        if signer is None:
            raise LogError("the log is not started")
        await asyncio.to_thread(self._archive_crls)
        stored = await make_checkpoint(self.store, signer, self._tsa_url, self._frontier)
        await self._publish(stored)
        self._last_checkpoint_size = stored.tree_size
        self.stats.checkpoints += 1
        log.info(
            "checkpoint", size=stored.tree_size, timestamped=stored.timestamp_token is not None
        )
        return stored

    async def _publish(self, stored: StoredCheckpoint) -> None:
        producer = self._producer
        if producer is None:
            raise LogError("the log is not started")
        try:
            await _send_checkpoint(producer, self.log_settings, self.store, stored)
        except BusError as error:
            # Stored already: the next checkpoint publishes again.
            log.warning("checkpoint stored but not published", error=str(error))

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        """Read every partition of ``edx.events`` from the positions stored with the leaves.

        No consumer group: the log is the one writer of its tree, and its true
        position is in its database, never in Kafka's committed offsets.
        """
        topic = self.settings.topics.events
        await consumer.topics()  # refreshes metadata, so the partitions are known
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            raise LogError(f"topic {topic} has no partitions the log can read")
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        stored = await asyncio.to_thread(self.store.positions, topic)
        for tp in assigned:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)


async def run_log(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    log_settings: LogSettings | None = None,
) -> None:
    """Run the log until ``stop`` is set (the service entry of ``edx log run``)."""
    service = LogService(settings, log_settings)
    try:
        await service.start()
        await service.run(stop)
        # A last checkpoint on the way out, so what was appended is covered.
        await service.checkpoint_if_grown()
    finally:
        await service.stop()
        log.info("log stopped", size=service.size, appended=service.stats.appended)


async def checkpoint_now(
    settings: Settings, log_settings: LogSettings | None = None
) -> StoredCheckpoint:
    """A checkpoint of the stored tree, made and published now (``edx log checkpoint --new``).

    Safe beside a running log: checkpoints are keyed by tree size, and one made
    here for a size the log also checkpoints is the same statement.
    """
    chosen = log_settings or LogSettings.from_env(settings)
    pki = settings.resolved_pki
    signer = await asyncio.to_thread(load_log_signer, pki, chosen.origin)
    engine = create_store_engine(chosen.db_url, must_exist=True, written_by="the log")
    server: TsaServer | None = None
    try:
        store = LogStore(engine)
        url = chosen.tsa_url
        if url is None:
            server = TsaServer(await asyncio.to_thread(DevTsa.from_pki, pki))
            server.start()
            url = server.url
        stored = await make_checkpoint(store, signer, url)
    finally:
        if server is not None:
            server.stop()
        engine.dispose()
    await ensure_checkpoint_topic(settings, chosen.topic)
    producer = make_producer(settings)
    with translate_errors("starting a producer"):
        await producer.start()
    try:
        engine = create_store_engine(chosen.db_url, must_exist=True, written_by="the log")
        try:
            await _send_checkpoint(producer, chosen, LogStore(engine), stored)
        finally:
            engine.dispose()
    finally:
        await producer.stop()
    return stored


async def _send_checkpoint(
    producer: AIOKafkaProducer,
    log_settings: LogSettings,
    store: LogStore,
    stored: StoredCheckpoint,
) -> None:
    headers = [("edx-tree-size", str(stored.tree_size).encode())]
    if stored.timestamp_token is not None:
        headers.append((TIMESTAMP_HEADER, stored.timestamp_token))
    previous = await asyncio.to_thread(store.previous_checkpoint_size, stored.tree_size)
    if previous is not None:
        proof = await asyncio.to_thread(store.consistency_proof, previous, stored.tree_size)
        headers.append((CONSISTENCY_FROM_HEADER, str(previous).encode()))
        headers.append((CONSISTENCY_PROOF_HEADER, b"".join(proof)))
    with translate_errors("publishing a checkpoint"):
        await producer.send_and_wait(
            log_settings.topic, stored.note, key=log_settings.origin.encode(), headers=headers
        )
