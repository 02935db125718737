"""Replay at scale: peak memory of ``edx replay`` as the log grows (10,000 and 100,000
packages), beside a same-run floor.

The bench starts an embedded broker, issues a dev PKI, signs distinct document
packages and writes them straight to ``edx.submit``, and records each one's
SUBMITTED and DELIVERED events in a SQLite tracker (:func:`bus.store.ingest`, the
tracker's own write path), so the system it replays is healthy. Each replay runs in a
child process of its own (:func:`bus.run_replay`, what ``edx replay`` runs) that
prints its peak RSS; the floor is the same child loading everything and building the
verifier, replaying nothing. Flat memory: the figures at 10,000 and 100,000 packages
stay close to each other (the per-package bookkeeping left is the offsets read and
the document ids counted, some bytes each).

Run with ``.venv/bin/python -m bench.bench_replay [SIZE ...]`` (default 10000 100000).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.embedded import EmbeddedBroker
from bus.kafka import make_producer, started
from bus.lifecycle import Source, encode_event
from bus.records import content_digest
from bus.router.records import delivered_event, submitted_event
from bus.settings import Settings, load_settings
from bus.store import IncomingRecord, create_store_engine, ingest, upgrade
from bus.topics import ensure_topics
from edxml import build, new_document
from signing import DevPki

SENDER = "000.00.00.H41"
RECIPIENT = "000.00.01.H41"
SIZES = (10_000, 100_000)
BATCH = 1000


def _environ(directory: Path, bootstrap: str) -> dict[str, str]:
    return {
        "EDX_BOOTSTRAP": bootstrap,
        "EDX_PKI": str(directory / "pki"),
        "EDX_HOME": str(directory / "home"),
        "EDX_DB_URL": f"sqlite:///{directory / 'tracker.db'}",
    }


async def _append(
    settings: Settings, pki: DevPki, first: int, count: int, events_offset: int
) -> int:
    """Sign and write ``count`` documents numbered from ``first``; record their events."""
    signer = pki.signer(SENDER)
    engine = create_store_engine(settings.resolved_db_url)
    try:
        async with started(make_producer(settings, linger_ms=50)) as producer:
            for start in range(first, first + count, BATCH):
                numbers = range(start, min(first + count, start + BATCH))
                documents = [
                    new_document(
                        SENDER,
                        [RECIPIENT],
                        number=str(n),
                        notation="UBND-BENCH",
                        subject="Chỉ thị",
                        signer_name="A",
                    )
                    for n in numbers
                ]
                packages = [signer.sign(build(d)) for d in documents]
                sent = [
                    await producer.send(settings.topics.submit, p, key=SENDER.encode())
                    for p in packages
                ]
                placed = await asyncio.gather(*sent)
                records: list[IncomingRecord] = []
                for document, package, where in zip(documents, packages, placed, strict=True):
                    digest = content_digest(package)
                    source = Source(settings.topics.submit, where.partition, where.offset)
                    now = datetime.now(UTC)
                    for event in (
                        submitted_event(document, digest, source, now),
                        delivered_event(document, RECIPIENT, digest, source, now),
                    ):
                        records.append(
                            IncomingRecord(
                                "edx.events",
                                0,
                                events_offset,
                                event.document_id.encode(),
                                encode_event(event),
                            )
                        )
                        events_offset += 1
                ingest(engine, records, group="bench")
    finally:
        engine.dispose()
    return events_offset


def _child(environ: dict[str, str], floor: bool) -> dict[str, Any]:
    """Run one replay (or the floor) in a child process: its report and peak RSS."""
    argv = [sys.executable, "-m", "bench.bench_replay", "--child"] + (["--floor"] if floor else [])
    done = subprocess.run(
        argv, env={**os.environ, **environ}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the replay child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _run_child(floor: bool) -> None:
    from bus import run_replay
    from bus.audit import verifier_from_settings

    settings = load_settings()
    if floor:
        verifier_from_settings(settings)
        report: dict[str, Any] = {"packages": 0, "clean": True, "seconds": 0.0}
    else:
        replayed = asyncio.run(run_replay(settings))
        report = {
            "packages": replayed.packages,
            "clean": replayed.clean,
            "seconds": replayed.seconds,
            "summary": replayed.summary(),
        }
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report))


async def _main(sizes: list[int]) -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        EmbeddedBroker(log_path=Path(scratch) / "tansu.log") as broker,
    ):
        directory = Path(scratch)
        environ = _environ(directory, broker.bootstrap)
        settings = load_settings(environ=environ)
        pki = DevPki.init(directory / "pki")
        for code in (SENDER, RECIPIENT):
            pki.issue(code, code)
        await ensure_topics(settings)
        upgrade(settings.resolved_db_url)
        floor = _child(environ, floor=True)
        print(
            f"replay peak RSS (floor: a replay process that reads nothing: "
            f"{floor['peak_rss_mb']:.0f} MB)"
        )
        written, events = 0, 0
        for size in sorted(sizes):
            started_at = time.monotonic()
            events = await _append(settings, pki, written, size - written, events)
            written = size
            writing = time.monotonic() - started_at
            figures = _child(environ, floor=False)
            if not figures["clean"] or figures["packages"] != size:
                raise RuntimeError(
                    f"the replay of {size} packages was not clean: {figures.get('summary')}"
                )
            print(
                f"  {size:>7,} packages  peak RSS {figures['peak_rss_mb']:6.0f} MB  "
                f"(+{figures['peak_rss_mb'] - floor['peak_rss_mb']:5.0f} MB over the floor)  "
                f"replay {figures['seconds']:6.1f} s = "
                f"{size / max(figures['seconds'], 1e-9):6.0f} packages/s  "
                f"[written in {writing:.0f} s]"
            )


def main() -> None:
    if "--child" in sys.argv:
        _run_child(floor="--floor" in sys.argv)
        return
    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    asyncio.run(_main(sizes))


if __name__ == "__main__":
    main()
