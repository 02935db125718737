"""End-to-end benchmark: send → route → receive → 01 back, for 5 KB signed packages.

What one document costs on the whole path: the sender signs it and keeps it in
its outbox (SQLite, fsync), publishes it (acks=all); the router verifies, checks
and copies it to the recipient's inbox; the recipient verifies it, records it,
signs and publishes a 01; the router routes the 01; the sender verifies it and
settles its outbox. Measured on a Tansu broker started for the run.

Printed beside the baseline of the same run: bare aiokafka produce→consume of the
same bytes through one topic (no signing, no router, no stores).

    .venv/bin/python -m bench.bench_e2e [--documents N] [--rate R] [--latency-documents M]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agency_client import AgencyClient, IncomingDocument
from bus import (
    Agency,
    EmbeddedBroker,
    Header,
    Router,
    Settings,
    TopicNames,
    decode_headers,
    make_consumer,
    make_producer,
    publish_agency,
)
from edxml import Attachment, DocumentPackage, build, new_document
from signing import DevPki

SENDER = "000.00.00.H44"
RECIPIENT = "000.00.24.H44"
PACKAGE_BYTES = 5 * 1024
#: The router's fetch wait in this run (aiokafka's default is 500 ms).
ROUTER_FETCH_WAIT_MS = 100


def _document(number: int, padding: int) -> DocumentPackage:
    return new_document(
        SENDER,
        [RECIPIENT],
        number=str(number),
        notation="UBND-BENCH",
        subject="Về việc đo hiệu năng trục liên thông",
        signer_name="Nguyễn Văn A",
        attachments=[Attachment.from_bytes("noi-dung.txt", b"x" * padding)],
    )


def _padding_for_5kb(pki: DevPki) -> int:
    """The attachment size that makes a signed package about 5 KB."""
    signer = pki.signer(SENDER)
    probe = len(signer.sign(build(_document(0, 0))))
    return max(0, int((PACKAGE_BYTES - probe) * 3 / 4))  # base64 grows 4/3


@contextlib.asynccontextmanager
async def _router(settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    async with Router(
        settings,
        consumer_options={
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "fetch_max_wait_ms": ROUTER_FETCH_WAIT_MS,
        },
    ) as router:
        task = asyncio.create_task(router.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


async def _receive(client: AgencyClient, count: int) -> None:
    taken = 0
    async for item in client.receive():
        if isinstance(item, IncomingDocument):
            taken += 1
            if taken == count:
                await client.acknowledge(item)
                return


async def _wait_settled(client: AgencyClient, ids: list[str]) -> None:
    for doc_id in ids:
        await client.wait_delivered(doc_id, timeout=600)


async def _throughput(
    sender: AgencyClient, receiver: AgencyClient, start: int, count: int, padding: int
) -> float:
    packages = [_document(start + i, padding) for i in range(count)]
    began = time.perf_counter()
    receiving = asyncio.create_task(_receive(receiver, count))
    ids: list[str] = []
    for chunk in range(0, count, 20):
        ids += await asyncio.gather(*(sender.send(p) for p in packages[chunk : chunk + 20]))
    await _wait_settled(sender, ids)
    await receiving
    return count / (time.perf_counter() - began)


async def _latency(
    sender: AgencyClient,
    receiver: AgencyClient,
    start: int,
    count: int,
    rate: float,
    padding: int,
) -> list[float]:
    receiving = asyncio.create_task(_receive(receiver, count))
    sent_at: dict[str, datetime] = {}
    interval = 1.0 / rate
    began = time.perf_counter()
    for i in range(count):
        package = _document(start + i, padding)
        sent_at[package.document_id] = datetime.now(UTC)
        await sender.send(package)
        delay = began + (i + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await _wait_settled(sender, list(sent_at))
    await receiving
    latencies = []
    for doc_id, at in sent_at.items():
        arrival = next(s for s in sender.statuses(doc_id) if s.status_code == "01")
        latencies.append((arrival.at - at).total_seconds() * 1000)
    return latencies


async def _read_topic(settings: Settings, topic: str) -> list[Any]:
    consumer = make_consumer(settings, topic, group_id=None)
    await consumer.start()
    records: list[Any] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1000):
            records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return records


async def _hops(settings: Settings) -> dict[str, float]:
    """Median milliseconds of each hop, from the records' own timestamps (broker clock)."""

    def by_id(records: list[Any], kind: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for r in records:
            headers = decode_headers(r.headers)
            if headers.get(Header.KIND) == kind:
                found.setdefault(headers.get(Header.DOCUMENT_ID, ""), r.timestamp)
        return found

    submitted = await _read_topic(settings, settings.topics.submit)
    doc_out, arrival_out = by_id(submitted, "document"), by_id(submitted, "status")
    doc_in = by_id(await _read_topic(settings, settings.topics.inbox(RECIPIENT)), "document")
    arrival_in = by_id(await _read_topic(settings, settings.topics.inbox(SENDER)), "status")

    def median(later: dict[str, int], earlier: dict[str, int]) -> float:
        return statistics.median(later[k] - earlier[k] for k in later if k in earlier)

    return {
        "router: submit → recipient inbox": median(doc_in, doc_out),
        "recipient: inbox → 01 submitted": median(arrival_out, doc_in),
        "router: 01 submit → sender inbox": median(arrival_in, arrival_out),
    }


async def _bare_kafka(settings: Settings, payload: bytes, count: int) -> float:
    """Produce ``count`` records of ``payload`` (acks=all) and consume them: records/s."""
    topic = settings.topics.submit + ".baseline"
    producer = make_producer(settings)
    consumer = make_consumer(settings, topic, group_id=None)
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, payload)  # creates the topic, warms up
        seen = -1
        began = time.perf_counter()
        futures = [await producer.send(topic, payload) for _ in range(count)]
        await asyncio.gather(*futures)
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500)
            seen += sum(len(records) for records in batch.values())
        return count / (time.perf_counter() - began)
    finally:
        await consumer.stop()
        await producer.stop()


async def run(documents: int, rate: float, latency_documents: int) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        home = Path(tmp)
        pki = DevPki.init(home / "pki")
        for code in (SENDER, RECIPIENT):
            pki.issue(code, f"Agency {code}")
        settings = Settings(
            home=home,
            bootstrap=broker.bootstrap,
            pki=home / "pki",
            topics=TopicNames(),
            partitions=3,
        )
        for code in (SENDER, RECIPIENT):
            fingerprint = pki.signer(code).fingerprint
            await publish_agency(
                settings, Agency.new(code, f"Agency {code}", cert_fingerprints=[fingerprint])
            )
        padding = _padding_for_5kb(pki)
        size = len(pki.signer(SENDER).sign(build(_document(0, padding))))
        async with (
            _router(settings),
            AgencyClient(settings, SENDER, hand_over_statuses=False) as sender,
            AgencyClient(settings, RECIPIENT) as receiver,
        ):
            await _throughput(sender, receiver, 1, 10, padding)  # warm-up
            e2e = await _throughput(sender, receiver, 100, documents, padding)
            hops = await _hops(settings)
            latencies = await _latency(
                sender, receiver, 100 + documents, latency_documents, rate, padding
            )
        payload = pki.signer(SENDER).sign(build(_document(0, padding)))
        baseline = await _bare_kafka(settings, payload, max(documents, 500))

    cut = statistics.quantiles(latencies, n=100)
    print(f"package size                          {size} bytes (signed, RSA-SHA256)")
    print(f"end to end (send→route→receive→01)    {e2e:8.1f} documents/s  ({documents} documents)")
    print(f"bare aiokafka produce→consume         {baseline:8.1f} records/s   (same bytes)")
    print(f"ratio end to end / bare               {e2e / baseline:8.3f}")
    for hop, millis in hops.items():
        print(f"  median under load, {hop:34} {millis:7.0f} ms")
    print(
        f"latency send→01 back at {rate:g}/s          "
        f"p50 {statistics.median(latencies):7.1f} ms   p99 {cut[98]:7.1f} ms   "
        f"({latency_documents} documents)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--latency-documents", type=int, default=100)
    args = parser.parse_args(argv if argv is not None else [])
    asyncio.run(run(args.documents, args.rate, args.latency_documents))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
