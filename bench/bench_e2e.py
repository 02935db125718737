"""End-to-end benchmark: send → route → receive → 01 back, through ``edx up`` and the SDK.

The bus is ``edx up`` itself, run as a subprocess on a fresh home (embedded
Tansu broker, router and tracker, with the settings ``edx up`` ships; nothing is
tuned here). The agencies' office software runs beside it: a sending province and
a receiving district, ``AgencyClient`` s with their default options (SQLite
outboxes, ``synchronous=FULL``; ``ClientTuning`` from the environment), each in a
process of its own as on two agencies' machines, driven phase by phase from this
one (``--one-process``: both in this process, sharing one interpreter). Every
document is about 5 KB signed (RSA-SHA256, exclusive C14N).

Printed, from one run:

- capacity: documents/s from the first ``send`` to the last 01 settled in the
  sender's outbox, with up to ``--window`` sends in flight;
- beside it, the floor of the same run: bare aiokafka produce→consume of the same
  bytes through one topic (no signing, no router, no stores);
- the CPU each agency's process and the bus (its process tree) spent per document
  meanwhile, and their CPU per second while sending at the light rate;
- latency ``send`` → 01 back (the 01 recorded in the sender's outbox), p50/p99, at a
  fixed light rate (``--rate``, 20 documents/s) and at half the measured capacity,
  and the median of each hop at the light rate (from the records' timestamps);
- with ``--router-fetch-wait-ms N``, the same figures with the bus of ``edx up``
  replaced by a broker and one router whose consumer waits at most N ms on an
  empty fetch (``edx up`` ships ``EDX_FETCH_MAX_WAIT_MS``, 10 ms), in a subprocess (no
  tracker): what that one router setting changes;
- with ``--probe``, only what the knobs cost on the embedded broker: ms from
  producing one record to a waiting consumer receiving it, per fetch wait, and
  ms per publication (``send_and_wait``) and records/s pipelined, per linger;
- the group commits of the stores (writes per fsync'd transaction), what an idle
  client costs (inbox fetches and CPU per second of its process), and the load
  average of the machine before and after (its cores are shared).

    .venv/bin/python -m bench.bench_e2e [--documents N] [--window W] [--rate R]
        [--latency-documents M] [--router-fetch-wait-ms N] [--one-process] [--probe]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agency_client import AgencyClient
from bench._documents import RECIPIENT, SENDER, bench_document
from bus import (
    Agency,
    Header,
    Settings,
    certificate_fingerprints,
    decode_headers,
    ensure_topics,
    make_consumer,
    make_producer,
    publish_agency,
    running_bus,
)
from bus.embedded import EmbeddedBroker
from bus.kafka import probe_features
from bus.router import Router
from edxml import DocumentPackage, build
from signing import DevPki

PACKAGE_BYTES = 5 * 1024


def _document(number: int, padding: int) -> DocumentPackage:
    return bench_document(SENDER, number, padding, "Về việc đo hiệu năng trục liên thông")


async def _register(settings: Settings) -> None:
    """Issue the two agencies' dev certificates and publish them (``edx agency add``)."""
    pki = DevPki.init(settings.resolved_pki, exist_ok=True)
    for code in (SENDER, RECIPIENT):
        _, cert = settings.agency_key_paths(code)
        if not cert.is_file():
            pki.issue(code, f"Agency {code}")
        await publish_agency(
            settings,
            Agency.new(code, f"Agency {code}", cert_fingerprints=certificate_fingerprints(cert)),
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _edx_up(home: Path) -> Iterator[tuple[Settings, int]]:
    """``edx up`` on ``home`` in a subprocess; the settings of the bus once it runs."""
    edx = Path(sys.executable).with_name("edx")
    env = {
        **os.environ,
        "EDX_HOME": str(home),
        "EDX_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
        # Not the shipped 8080: another bus on this machine may hold it, and edx up
        # stops when its gateway cannot listen.
        "EDX_GATEWAY_PORT": str(_free_port()),
    }
    for name in ("EDX_CONFIG", "EDX_DB_URL", "EDX_PKI", "EDX_TRUST", "EDX_CRL"):
        env.pop(name, None)
    log = (home.parent / "edx-up.log").open("wb")
    process = subprocess.Popen([str(edx), "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        settings = Settings.of(home=home)
        deadline = time.monotonic() + 120
        while (bootstrap := running_bus(settings)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                said = Path(log.name).read_text(encoding="utf-8", errors="replace")
                raise SystemExit("edx up did not start:\n" + "\n".join(said.splitlines()[-5:]))
            time.sleep(0.2)
        yield Settings.of(home=home, bootstrap=bootstrap), process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _serve_router(home: str, fetch_wait_ms: int, ready: object, stop: object) -> None:
    """In a subprocess: a broker and one router with the given fetch wait, until ``stop``."""
    asyncio.run(_serve_router_async(Path(home), fetch_wait_ms, ready, stop))


async def _serve_router_async(home: Path, fetch_wait_ms: int, ready: object, stop: object) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings.of(home=home)
    DevPki.init(settings.resolved_pki, exist_ok=True)
    with EmbeddedBroker() as broker:
        settings = settings.with_values(bootstrap=broker.bootstrap)
        await ensure_topics(settings)
        stopping = asyncio.Event()
        options = {"fetch_max_wait_ms": fetch_wait_ms}
        async with Router(settings, consumer_options=options) as router:
            task = asyncio.create_task(router.run(stopping))
            ready.put(broker.bootstrap)  # type: ignore[attr-defined]
            # A multiprocessing event (another process sets it): waited on in a thread.
            await asyncio.to_thread(stop.wait)  # type: ignore[attr-defined]
            stopping.set()
            await task


@contextlib.contextmanager
def _router_with_fetch_wait(home: Path, fetch_wait_ms: int) -> Iterator[tuple[Settings, int]]:
    """A broker and one router (fetch wait ``fetch_wait_ms``) in a subprocess."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    process = context.Process(
        target=_serve_router, args=(str(home), fetch_wait_ms, ready, stop), daemon=True
    )
    process.start()
    try:
        bootstrap = ready.get(timeout=120)
        assert process.pid is not None
        yield Settings.of(home=home, bootstrap=bootstrap), process.pid
    finally:
        stop.set()
        process.join(timeout=60)
        if process.is_alive():
            process.kill()
            process.join()


def _padding_for_5kb(client: AgencyClient) -> int:
    """The attachment size that makes a signed package about 5 KB."""
    probe = len(client.signer.sign(build(_document(0, 0))))
    return max(0, int((PACKAGE_BYTES - probe) * 3 / 4))  # base64 grows 4/3


async def _receive(client: AgencyClient, until: Callable[[], bool]) -> None:
    """The district's software: takes what is ready in batches (``Inbox.batches``).

    Runs until ``until()`` holds at a moment the inbox is idle; leaving the
    block settles the last batch.
    """
    async with client.receive(idle_timeout=0.2) as inbox:
        while not until():
            async for _ in inbox.batches(max_items=100):
                pass


async def _capacity(
    sender: AgencyClient, start: int, count: int, window: int, padding: int
) -> float:
    """Documents/s with up to ``window`` sends in flight, until the last 01 is back."""
    packages = [_document(start + i, padding) for i in range(count)]
    slots = asyncio.Semaphore(window)

    async def one(package: DocumentPackage) -> str:
        async with slots:
            return await sender.send(package)

    began = time.perf_counter()
    ids = await asyncio.gather(*(one(p) for p in packages))
    for doc_id in ids:
        await sender.wait_delivered(doc_id, timeout=600)
    return count / (time.perf_counter() - began)


async def _latency(
    sender: AgencyClient, start: int, count: int, rate: float, padding: int
) -> dict[str, float]:
    """Milliseconds from ``send`` to the 01 in the sender's outbox, sending at ``rate``/s."""
    sent_at: dict[str, datetime] = {}
    sending: list[asyncio.Task[str]] = []
    began = time.perf_counter()
    for i in range(count):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        package = _document(start + i, padding)
        sent_at[package.document_id] = datetime.now(UTC)
        # Open loop: a slow send does not hold back the next one.
        sending.append(asyncio.create_task(sender.send(package)))
    await asyncio.gather(*sending)
    for doc_id in sent_at:
        await sender.wait_delivered(doc_id, timeout=600)
    latencies = {}
    for doc_id, at in sent_at.items():
        arrival = next(s for s in sender.statuses(doc_id) if s.status_code == "01")
        latencies[doc_id] = (arrival.at - at).total_seconds() * 1000
    return latencies


def _count_fetches(client: AgencyClient) -> Callable[[], int]:
    """Count the fetch requests the client's inbox consumer sends (a benchmark's peek)."""
    consumer = client._require().connection.consumer  # measuring only
    assert consumer is not None
    kafka = consumer._client
    send, fetches = kafka.send, [0]

    async def counting(node_id: Any, request: Any, **kwargs: Any) -> Any:
        if type(request).__name__.startswith("FetchRequest"):
            fetches[0] += 1
        return await send(node_id, request, **kwargs)

    kafka.send = counting
    return lambda: fetches[0]


async def _idle(seconds: float, fetches: Callable[[], int]) -> tuple[float, float]:
    """CPU ms per second and inbox fetches per second of this process while idle."""
    await asyncio.sleep(0.5)  # what the last phase left to do
    cpu, count = time.process_time(), fetches()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) * 1000 / seconds, (fetches() - count) / seconds


async def _province(settings: Settings, commands: Any) -> None:
    """The sending province's office software, driven by ``commands`` (a pipe end)."""
    async with AgencyClient(settings, SENDER, hand_over_statuses=False) as sender:
        padding = _padding_for_5kb(sender)
        fetches = _count_fetches(sender)
        commands.send((padding, sender.signer.sign(build(_document(0, padding)))))
        while (command := await asyncio.to_thread(commands.recv))[0] != "stop":
            cpu = time.process_time()
            if command[0] == "capacity":
                _, start, count, window = command
                result: Any = await _capacity(sender, start, count, window, padding)
            elif command[0] == "latency":
                _, start, count, rate = command
                result = await _latency(sender, start, count, rate, padding)
            else:
                result = await _idle(command[1], fetches)
            commands.send((result, time.process_time() - cpu))
        commands.send(sender.store_commits())


async def _district(settings: Settings, commands: Any) -> None:
    """The receiving district's office software: takes its inbox until told to stop."""
    async with AgencyClient(settings, RECIPIENT) as receiver:
        fetches = _count_fetches(receiver)
        stop = False
        receiving = asyncio.create_task(_receive(receiver, lambda: stop))
        commands.send("ready")
        while (command := await asyncio.to_thread(commands.recv))[0] != "stop":
            if command[0] == "idle":
                commands.send(await _idle(command[1], fetches))
            else:
                commands.send(time.process_time())
        stop = True
        await receiving
        commands.send(receiver.store_commits())


def _agency_process(role: str, home: str, bootstrap: str, commands: Any) -> None:
    """A child process: one agency's office software (``role``) on the bus at ``bootstrap``."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings.of(home=Path(home), bootstrap=bootstrap)
    asyncio.run((_province if role == "province" else _district)(settings, commands))


class _Agencies:
    """The two agencies' software, each in a process of its own (``one_process``: both in
    this one, sharing its interpreter), driven phase by phase from here."""

    def __init__(self, settings: Settings, one_process: bool) -> None:
        self.settings = settings
        self.one_process = one_process
        self._ends: dict[str, Any] = {}
        self._processes: list[Any] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> _Agencies:
        context = multiprocessing.get_context("spawn")
        for role in ("district", "province"):
            mine, theirs = context.Pipe()
            self._ends[role] = mine
            if self.one_process:
                run = _province if role == "province" else _district
                self._tasks.append(asyncio.create_task(run(self.settings, theirs)))
            else:
                home, bootstrap = str(self.settings.home), self.settings.broker.bootstrap
                process = context.Process(
                    target=_agency_process, args=(role, home, bootstrap, theirs), daemon=True
                )
                process.start()
                self._processes.append(process)
        await self._ask("district", None)
        self.padding, self.payload = await self._ask("province", None)
        return self

    async def _ask(self, role: str, command: tuple[Any, ...] | None) -> Any:
        end = self._ends[role]
        if command is not None:
            end.send(command)
        # In a thread: the other end may be a task of this very loop.
        return await asyncio.to_thread(end.recv)

    async def capacity(self, start: int, count: int, window: int) -> tuple[float, dict[str, float]]:
        """Documents/s, and the CPU seconds each process spent meanwhile."""
        district_cpu = await self._ask("district", ("cpu",))
        rate, province_cpu = await self._ask("province", ("capacity", start, count, window))
        district_cpu = await self._ask("district", ("cpu",)) - district_cpu
        if self.one_process:
            return rate, {"both agencies (one process)": province_cpu}
        return rate, {"province (sender)": province_cpu, "district (recipient)": district_cpu}

    async def latency(
        self, start: int, count: int, rate: float
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Milliseconds send → 01 back per document, and each process's CPU ms/s meanwhile."""
        district_cpu = await self._ask("district", ("cpu",))
        began = time.perf_counter()
        latencies, province_cpu = await self._ask("province", ("latency", start, count, rate))
        district_cpu = await self._ask("district", ("cpu",)) - district_cpu
        per_second = 1000 / (time.perf_counter() - began)
        if self.one_process:
            return dict(latencies), {"both agencies": province_cpu * per_second}
        return dict(latencies), {
            "province": province_cpu * per_second,
            "district": district_cpu * per_second,
        }

    async def idle(self, seconds: float) -> dict[str, tuple[float, float]]:
        """CPU ms/s and fetches/s of each agency's process while nothing is sent."""
        self._ends["district"].send(("idle", seconds))
        (province, _), district = await asyncio.gather(
            self._ask("province", ("idle", seconds)), self._ask("district", None)
        )
        return {"province": province, "district": district}

    async def __aexit__(self, *exc_info: object) -> None:
        self.commits = {}
        for role in ("province", "district"):
            self.commits[role] = await self._ask(role, ("stop",))
        for task in self._tasks:
            await task
        for process in self._processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()


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


async def _hops(settings: Settings, ids: set[str]) -> dict[str, float]:
    """Median ms of each hop for the documents ``ids``, from the records' broker timestamps."""

    def by_id(records: list[Any], kind: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for r in records:
            headers = decode_headers(r.headers)
            doc_id = headers.get(Header.DOCUMENT_ID, "")
            if headers.get(Header.KIND) == kind and doc_id in ids:
                found.setdefault(doc_id, r.timestamp)
        return found

    submitted = await _read_topic(settings, settings.topics.submit)
    doc_out, arrival_out = by_id(submitted, "document"), by_id(submitted, "status")
    doc_in = by_id(await _read_topic(settings, settings.topics.inbox(RECIPIENT)), "document")
    arrival_in = by_id(await _read_topic(settings, settings.topics.inbox(SENDER)), "status")

    def median(later: dict[str, int], earlier: dict[str, int]) -> float:
        return statistics.median(later[k] - earlier[k] for k in later if k in earlier)

    return {
        "router: document submitted → in the recipient's inbox": median(doc_in, doc_out),
        "recipient client: inbox → its 01 submitted": median(arrival_out, doc_in),
        "router: 01 submitted → in the sender's inbox": median(arrival_in, arrival_out),
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


async def probe() -> None:
    """What the fetch wait and the linger cost on the embedded broker (see ``ClientTuning``)."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        settings = Settings.of(home=Path(tmp), bootstrap=broker.bootstrap)
        await probe_features(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait("probe", b"x")
            # Produced at a random moment of the consumer's wait (seeded): a fixed
            # pause between records would always land at the same point of it.
            phase = random.Random(7)
            for wait in (500, 100, 20, 10, 5):
                consumer = make_consumer(
                    settings,
                    "probe",
                    group_id=None,
                    fetch_max_wait_ms=wait,
                    auto_offset_reset="latest",
                )
                await consumer.start()
                await asyncio.sleep(1)
                hops = []
                for _ in range(40):
                    await asyncio.sleep(phase.uniform(0.01, 0.2))
                    await producer.send_and_wait("probe", b"x")
                    sent = time.perf_counter()
                    while not await consumer.getmany(timeout_ms=2000):
                        pass
                    hops.append((time.perf_counter() - sent) * 1000)
                await consumer.stop()
                hops.sort()
                print(
                    f"fetch wait {wait:4d} ms: produced → received p50 "
                    f"{statistics.median(hops):6.1f} ms, p90 {hops[int(len(hops) * 0.9)]:6.1f} ms, "
                    f"max {hops[-1]:6.1f} ms"
                )
        finally:
            await producer.stop()
        for linger in (5, 1, 0):
            producer = make_producer(settings, linger_ms=linger)
            await producer.start()
            try:
                await producer.send_and_wait("probe", b"x" * PACKAGE_BYTES)
                one = []
                for _ in range(30):
                    began = time.perf_counter()
                    await producer.send_and_wait("probe", b"x" * PACKAGE_BYTES)
                    one.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                futures = [await producer.send("probe", b"x" * PACKAGE_BYTES) for _ in range(2000)]
                await asyncio.gather(*futures)
                rate = 2000 / (time.perf_counter() - began)
            finally:
                await producer.stop()
            print(
                f"linger {linger} ms: one publication p50 {statistics.median(one):5.1f} ms, "
                f"pipelined {rate:7.0f} records/s (5 KB)"
            )


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by process ``pid`` and its descendants (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / tick
    tree, grown = {pid}, True
    while grown:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(used.get(member, 0.0) for member in tree)


def _percentiles(latencies: dict[str, float]) -> tuple[float, float]:
    figures = list(latencies.values())
    return statistics.median(figures), statistics.quantiles(figures, n=100)[98]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def run(
    documents: int,
    window: int,
    rate: float,
    latency_documents: int,
    router_fetch_wait: int | None,
    one_process: bool,
) -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    load_before = _load()
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory())) / ".edx"
        if router_fetch_wait is None:
            bus = "edx up"
            settings, bus_pid = stack.enter_context(_edx_up(home))
        else:
            bus = f"router (fetch wait {router_fetch_wait} ms)"
            settings, bus_pid = stack.enter_context(
                _router_with_fetch_wait(home, router_fetch_wait)
            )
        await _register(settings)
        await asyncio.sleep(3)  # the running router picks the new agencies up from its topic
        async with _Agencies(settings, one_process) as agencies:
            payload = agencies.payload
            await agencies.capacity(1, 20, window)  # warm-up
            idle = await agencies.idle(3.0)
            bus_cpu = _tree_cpu(bus_pid)
            capacity, cpu = await agencies.capacity(100, documents, window)
            cpu[f"the bus ({bus})"] = _tree_cpu(bus_pid) - bus_cpu
            number = 100 + documents
            bus_cpu, began = _tree_cpu(bus_pid), time.perf_counter()
            light, light_cpu = await agencies.latency(number, latency_documents, rate)
            light_cpu["bus"] = (_tree_cpu(bus_pid) - bus_cpu) * 1000 / (time.perf_counter() - began)
            number += latency_documents
            half_rate = max(1.0, capacity / 2)
            half, _ = await agencies.latency(number, latency_documents, half_rate)
        hops = await _hops(settings, set(light))
        baseline = await _bare_kafka(settings, payload, max(documents, 500))
    load_after = _load()

    where = "one process" if one_process else "a process each"
    print(f"load average before / after           {load_before}  /  {load_after}")
    print(f"package size                          {len(payload)} bytes (signed, RSA-SHA256)")
    print(
        f"end to end through {bus} + SDK  {capacity:8.1f} documents/s  "
        f"({documents} documents, {window} sends in flight; agencies in {where})"
    )
    print(f"bare aiokafka produce→consume         {baseline:8.1f} records/s   (same bytes)")
    print(f"ratio end to end / bare               {capacity / baseline:8.3f}")
    for name, seconds in cpu.items():
        print(f"CPU per document, {name:28} {seconds * 1000 / documents:6.2f} ms")
    for name, millis in light_cpu.items():
        print(f"CPU while sending at {rate:g}/s, {name:19} {millis:6.0f} ms/s")
    for label, figures, at in (("light", light, rate), ("half capacity", half, half_rate)):
        p50, p99 = _percentiles(figures)
        print(
            f"latency send→01 back, {label:13} at {at:6.1f}/s   "
            f"p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   ({latency_documents} documents)"
        )
    for hop, millis in hops.items():
        print(f"  median at {rate:g}/s, {hop:55} {millis:6.0f} ms")
    for name, (commits, writes) in agencies.commits.items():
        print(f"group commits of the {name:16} {writes} writes in {commits} transactions")
    for name, (cpu_ms, fetches) in idle.items():
        print(
            f"idle {name:8} client: {fetches:5.1f} inbox fetches/s, "
            f"{cpu_ms:5.1f} ms CPU/s of its process"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency-documents", type=int, default=200)
    parser.add_argument("--router-fetch-wait-ms", type=int, default=None)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument(
        "--one-process", action="store_true", help="both agencies in this process (one GIL)"
    )
    args = parser.parse_args(argv if argv is not None else [])
    if args.probe:
        asyncio.run(probe())
        return
    asyncio.run(
        run(
            args.documents,
            args.window,
            args.rate,
            args.latency_documents,
            args.router_fetch_wait_ms,
            args.one_process,
        )
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
