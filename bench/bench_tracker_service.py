"""The tracker service reading ``edx.events`` as routers write it: a few events at a time.

A router publishes the events of each batch it routes as it routes them, so on a
busy bus events arrive a few at a time, and a fetch brings what arrived since the
previous one (the embedded broker, Tansu, answers with about one producer batch).
The tracker records each batch it takes in one transaction of about ten
statements, so what a batch holds decides what each event costs.

Each run starts a broker and a tracker, and a publisher process that publishes the
first ``EVENTS`` lifecycle events of ``bench_tracker`` one by one (each its own
producer batch) at ``RATE`` events a second, about what a router routing a hundred
documents a second emits. The figure is this process's CPU time per event while
the tracker keeps up (its event loop and its database threads; the broker and the
publisher are processes of their own), and the number of transactions:

- **shipped**: :class:`bus.tracker.Tracker` with the default ``TrackerOptions``
  (``gather_seconds`` 0.1: after the first records, go on fetching for a tenth of
  a second before recording);
- **one fetch per batch**, the same-run baseline: ``gather_seconds=0``, recording
  whatever one fetch returned.

Interleaved: one fetch, shipped, one fetch, shipped.

Command: ``python -m bench.bench_tracker_service`` (``EDX_BENCH_EVENTS`` and
``EDX_BENCH_RATE`` set the count and the rate).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.bench_tracker import _records
from bus.embedded import EmbeddedBroker
from bus.kafka import make_producer, started
from bus.settings import Settings
from bus.topics import ensure_topics
from bus.tracker import Tracker, TrackerOptions

EVENTS = int(os.environ.get("EDX_BENCH_EVENTS", "3000"))
RATE = float(os.environ.get("EDX_BENCH_RATE", "500"))


def _publish(bootstrap: str, home: str, events: int, rate: float) -> None:
    """In a process of its own: publish the events one by one at ``rate`` a second."""
    asyncio.run(_publish_paced(Settings.of(home=Path(home), bootstrap=bootstrap), events, rate))


async def _publish_paced(settings: Settings, events: int, rate: float) -> None:
    loop = asyncio.get_running_loop()
    async with started(make_producer(settings)) as producer:
        begin = loop.time()
        for n, record in enumerate(_records()[:events]):
            await asyncio.sleep(max(0.0, begin + n / rate - loop.time()))
            await producer.send_and_wait(settings.topics.events, record.value, key=record.key)


async def _one_run(options: TrackerOptions) -> tuple[float, int]:
    """(CPU seconds of this process, transactions) while a tracker records the events."""
    with tempfile.TemporaryDirectory(prefix="edx-bench-tracker-") as tmp:
        async with EmbeddedBroker() as broker:
            settings = Settings.of(home=Path(tmp), bootstrap=broker.bootstrap)
            await ensure_topics(settings)
            stop = asyncio.Event()
            async with Tracker(settings, options=options, names=lambda _code: None) as tracker:
                task = asyncio.create_task(tracker.run(stop))
                publisher = multiprocessing.get_context("spawn").Process(
                    target=_publish, args=(broker.bootstrap, tmp, EVENTS, RATE)
                )
                cpu = time.process_time()
                publisher.start()
                while tracker.stats.recorded < EVENTS:  # noqa: ASYNC110 - a counter, no event
                    await asyncio.sleep(0.01)
                cpu = time.process_time() - cpu
                stop.set()
                await task
                await asyncio.to_thread(publisher.join)
                return cpu, tracker.stats.batches


async def _main() -> None:
    shipped = TrackerOptions()
    runs = [("one fetch per batch", replace(shipped, gather_seconds=0.0)), ("shipped", shipped)]
    print(
        f"tracker service: {EVENTS} events published one by one at {RATE:g}/s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'tracker':<36}{'CPU ms/event':>14}{'transactions':>14}")
    for _ in range(2):
        for name, options in runs:
            cpu, batches = await _one_run(options)
            label = f"{name} (gather {options.gather_seconds:g} s)"
            print(f"{label:<36}{cpu * 1000 / EVENTS:>14.3f}{batches:>14}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
