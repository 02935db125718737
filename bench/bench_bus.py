"""Router throughput: signed packages routed per second, beside a bare copier.

Each figure is printed beside a baseline measured in the same run, on the same
broker, with the same bytes:

- router: :class:`bus.router.Router` running as a service runs it (its batches
  pipelined: :mod:`bus.router.loop`) consuming ``edx.submit`` and, for every
  package, verifying its signature, parsing what was signed (strict), checking
  sender, certificate and recipients against the directory, remembering it in the
  acceptance store (SQLite), writing it to each recipient's inbox, emitting the
  events, and committing after the acks;
- baseline: a bare aiokafka consumer in a group that copies the same records to
  the same number of inbox topics, awaits the acks and commits per batch: the I/O
  of routing with none of the checks;
- the same router with one worker process per core (``--workers``, default),
  on topics and a store of its own;
- the one-worker router handling the same packages submitted again (the sender's outbox
  re-submitting what every recipient already has): what a retry costs;
- and, to say where the time goes, a bare ``Verifier.verify`` of the same bytes;
- then 5,000 hostile records (garbage, truncated, unsigned, a forged key, and one
  in 500 three megabytes over the package limit) refused by the router, with the
  process's memory after 200, 1,000 and all of them: flat when the growth from 200
  to 1,000 is no smaller than from 1,000 to 5,000 (nothing kept per record, and
  the allocator keeps no freed big buffer: ``bus.router.memory``).

The broker is ``EDX_BENCH_BOOTSTRAP`` when set, else an embedded Tansu process.
Run with ``.venv/bin/python -m bench.bench_bus``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from aiokafka.structs import OffsetAndMetadata

from bus.directory import Agency, publish_agency
from bus.embedded import EmbeddedBroker
from bus.kafka import make_consumer, make_producer, started
from bus.router import Router
from bus.router.memory import keep_memory_flat
from bus.router.workers import default_workers
from bus.settings import Settings, TopicNames
from bus.topics import ensure_inbox, ensure_topics
from edxml import build, new_document
from signing import DevPki, Verifier

PACKAGES = int(os.environ.get("EDX_BENCH_PACKAGES", "300"))
HOSTILE = int(os.environ.get("EDX_BENCH_HOSTILE", "5000"))
SENDER = "000.00.00.G22"
RECIPIENTS = ("000.00.00.H41", "000.00.00.H44")
BATCH = 200
FAST_JOIN = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


@contextlib.asynccontextmanager
async def _broker() -> AsyncIterator[str]:
    external = os.environ.get("EDX_BENCH_BOOTSTRAP")
    if external:
        yield external
        return
    async with EmbeddedBroker() as broker:
        yield broker.bootstrap


def _topics(prefix: str) -> TopicNames:
    return TopicNames(
        submit=f"{prefix}.edx.submit",
        inbox_prefix=f"{prefix}.edx.inbox.",
        events=f"{prefix}.edx.events",
        deadletter=f"{prefix}.edx.deadletter",
        agencies=f"{prefix}.edx.agencies",
    )


def _packages(pki: DevPki, count: int) -> list[bytes]:
    signer = pki.signer(SENDER)
    packages = []
    for number in range(1, count + 1):
        document = new_document(
            SENDER,
            list(RECIPIENTS),
            number=str(number),
            notation="VPCP-TH",
            subject=f"Về việc triển khai kế hoạch số {number}",
            content="Nội dung văn bản. " * 40,
            signer_name="Nguyễn Văn A",
        )
        packages.append(signer.sign(build(document)))
    return packages


async def _produce(settings: Settings, topic: str, packages: list[bytes]) -> None:
    async with started(make_producer(settings)) as producer:
        sends = [await producer.send(topic, value, key=SENDER.encode()) for value in packages]
        await asyncio.gather(*sends)


async def _bench_router(
    settings: Settings, packages: list[bytes], workers: int
) -> tuple[float, float]:
    """Packages per second the router routes (group already joined, store empty), then
    re-submissions of the same packages per second (each already in every inbox)."""
    async with Router(settings, consumer_options=FAST_JOIN, workers=workers) as router:
        while not router.assignment:
            await router.route_available(timeout_ms=200)
        if workers > 1 and not await router.warm_workers():
            raise RuntimeError("the router's worker processes did not start")
        rates = []
        for round_ in (1, 2):  # the second round: every package is a retry
            await _produce(settings, settings.topics.submit, packages)
            started_at = time.perf_counter()
            await _run_until(router, round_ * len(packages))
            rates.append(len(packages) / (time.perf_counter() - started_at))
    if router.stats.rejected:
        raise RuntimeError(f"router rejected packages: {router.stats.reasons}")
    if router.stats.retries != len(packages) or router.stats.delivered != 2 * len(packages):
        raise RuntimeError(f"retries were not recognised as such: {router.stats}")
    return rates[0], rates[1]


async def _run_until(router: Router, committed: int) -> None:
    """Run the router as a service runs it (batches pipelined) until ``committed``
    records since its start have their offsets committed."""
    stop = asyncio.Event()
    running = asyncio.ensure_future(router.run(stop))
    try:
        # A counter, polled: every 2 ms is well below a batch's routing time.
        while router.stats.committed < committed and not running.done():  # noqa: ASYNC110
            await asyncio.sleep(0.002)
    finally:
        stop.set()
        await running


async def _bench_copier(settings: Settings, packages: list[bytes]) -> float:
    """Packages per second a bare consume -> copy to each inbox -> ack -> commit loop moves."""
    source = f"{settings.topics.submit}.baseline"
    await ensure_inbox(replace(settings, topics=replace(settings.topics, inbox_prefix="")), source)
    targets = [f"{settings.topics.inbox(r)}.baseline" for r in RECIPIENTS]
    for target in targets:
        await ensure_inbox(
            replace(settings, topics=replace(settings.topics, inbox_prefix="")), target
        )
    consumer = make_consumer(
        settings,
        source,
        group_id=f"baseline-{uuid.uuid4().hex[:8]}",
        max_poll_records=BATCH,
        **FAST_JOIN,
    )
    async with started(consumer), started(make_producer(settings)) as producer:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        await _produce(settings, source, packages)
        copied = 0
        started_at = time.perf_counter()
        while copied < len(packages):
            batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            if not any(batch.values()):
                continue
            sends = []
            for records in batch.values():
                for record in records:
                    for target in targets:
                        sends.append(
                            await producer.send(
                                target, record.value, key=record.key, headers=list(record.headers)
                            )
                        )
            await asyncio.gather(*sends)
            await consumer.commit(
                {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batch.items() if rs}
            )
            copied += sum(len(rs) for rs in batch.values())
        elapsed = time.perf_counter() - started_at
    return len(packages) / elapsed


def _hostile(pki: DevPki, forger: DevPki, packages: list[bytes], count: int) -> list[bytes]:
    """``count`` records no one may route: garbage, truncated, unsigned, signed with
    a key no trust anchor vouches for, and one larger than the package limit."""
    unsigned = build(
        new_document(
            SENDER,
            list(RECIPIENTS),
            number="1",
            notation="X",
            subject="Không ký",
            signer_name="Nguyễn Văn A",
        )
    )
    forged = forger.signer(SENDER).sign(unsigned)
    kinds = [
        lambda n: b"\x00\xff garbage %d" % n,
        lambda n: packages[n % len(packages)][: 1000 + n % 3000],  # always cut short
        lambda n: unsigned.replace(b"Kh\xc3\xb4ng", b"%d" % n),
        lambda n: forged,
    ]
    records = [kinds[n % len(kinds)](n) for n in range(count)]
    oversized = b"<x>" + b"A" * (Settings().packages.max_package_bytes + 3 * 1024 * 1024) + b"</x>"
    for at in range(10, count, 500):  # the first early, so every figure holds its cost
        records[at] = oversized
    return records


def _rss_mib() -> float:
    """This process's resident memory, MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _bench_hostile(
    settings: Settings, hostile: list[bytes]
) -> tuple[float, dict[int, float]]:
    """Hostile records refused per second, and the router's memory (MiB) after 200,
    1,000 and all of them (as ``run_router`` does, the allocator keeps memory flat)."""
    keep_memory_flat()
    async with Router(settings, consumer_options=FAST_JOIN) as router:
        while not router.assignment:
            await router.route_available(timeout_ms=200)
        big = max(len(h) for h in hostile) + 1024 * 1024
        async with started(make_producer(settings, max_request_size=big)) as producer:
            sends = [
                await producer.send(settings.topics.submit, h, key=SENDER.encode()) for h in hostile
            ]
            await asyncio.gather(*sends)
        started_at = time.perf_counter()
        marks = sorted({min(200, len(hostile)), min(1000, len(hostile)), len(hostile)})
        rss: dict[int, float] = {}
        for mark in marks:
            await _run_until(router, mark)
            rss[mark] = _rss_mib()
        rate = len(hostile) / (time.perf_counter() - started_at)
    if router.stats.rejected != len(hostile):
        raise RuntimeError(f"hostile records routed: {router.stats}")
    return rate, rss


def _bench_verify(pki: DevPki, packages: list[bytes]) -> float:
    verifier = Verifier(pki.trust_store())
    started_at = time.perf_counter()
    for value in packages:
        verifier.verify(value)
    return len(packages) / (time.perf_counter() - started_at)


async def _fresh(settings: Settings, pki: DevPki, name: str) -> Settings:
    """The same broker with topics, group, directory and router store of its own."""
    prefix = f"{name}{uuid.uuid4().hex[:8]}"
    fresh = settings.with_values(
        topics=_topics(prefix),
        router_group=f"{prefix}-router",
        router_db_url=f"sqlite:///{settings.home / (prefix + '-router.db')}",
    )
    await ensure_topics(fresh, RECIPIENTS)
    for code in (SENDER, *RECIPIENTS):
        fingerprint = pki.signer(code).fingerprint
        await publish_agency(fresh, Agency.new(code, code, cert_fingerprints=[fingerprint]))
    return fresh


async def _run(workdir: Path) -> None:
    pki = DevPki.init(workdir / "pki")
    for code in (SENDER, *RECIPIENTS):
        pki.issue(code, f"Agency {code}")
    packages = _packages(pki, PACKAGES)
    size = sum(len(p) for p in packages) // len(packages)
    async with _broker() as bootstrap:
        settings = Settings.of(
            home=workdir,
            bootstrap=bootstrap,
            pki=pki.directory,
            topics=_topics(f"bench{uuid.uuid4().hex[:8]}"),
            router_group=f"bench-router-{uuid.uuid4().hex[:8]}",
        )
        await ensure_topics(settings, RECIPIENTS)
        for code in (SENDER, *RECIPIENTS):
            fingerprint = pki.signer(code).fingerprint
            await publish_agency(settings, Agency.new(code, code, cert_fingerprints=[fingerprint]))
        copier = await _bench_copier(settings, packages)
        router, retries = await _bench_router(settings, packages, 1)
        many = default_workers()
        routed_many, _ = await _bench_router(await _fresh(settings, pki, "many"), packages, many)
        forger = DevPki.init(workdir / "forger")
        forger.issue(SENDER, "Forged")
        hostile = _hostile(pki, forger, packages, HOSTILE)
        refused, rss = await _bench_hostile(settings, hostile)
    verify = _bench_verify(pki, packages)
    broker = "external" if os.environ.get("EDX_BENCH_BOOTSTRAP") else "embedded Tansu"
    print(
        f"packages: {len(packages)} signed documents, {size} bytes each, "
        f"{len(RECIPIENTS)} recipients each; broker {broker}"
    )
    print(f"{'path':<44} {'packages/s':>11} {'ratio':>7}")
    print(f"{'bare aiokafka copy (consume->2 inboxes->ack)':<44} {copier:>11.1f} {1.0:>7.2f}")
    print(
        f"{'router, 1 worker (verify, parse, route, events)':<44} {router:>11.1f} "
        f"{router / copier:>7.2f}"
    )
    label = f"router, {many} worker processes"
    print(f"{label:<44} {routed_many:>11.1f} {routed_many / copier:>7.2f}")
    print(
        f"{'router, re-submissions already delivered':<44} {retries:>11.1f} "
        f"{retries / copier:>7.2f}"
    )
    print(f"{'bare Verifier.verify (no I/O)':<44} {verify:>11.1f} {verify / copier:>7.2f}")
    figures = ", ".join(f"{mib:.0f} MiB after {mark}" for mark, mib in sorted(rss.items()))
    print(
        f"hostile: {len(hostile)} records (garbage, truncated, unsigned, forged key, 1 in 500 "
        f"over the limit by 3 MiB) refused at {refused:.1f}/s; bench process RSS {figures}"
    )


def main() -> None:
    """Run the router benchmark and print its figures."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("bus").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="edx-bench-bus-") as workdir:
        asyncio.run(_run(Path(workdir)))


if __name__ == "__main__":
    main()
