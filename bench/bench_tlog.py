"""Transparency log benchmarks: does the log keep up with the router, and how fast are
checkpoints and proofs?

Printed beside a floor measured in the same run:

- append: :meth:`bus.tlog.LogStore.append` (canonical encoding, leaf hashes, dedupe
  by event id, positions, one transaction per batch of 2,000) into SQLite and
  PostgreSQL, against the router's ceiling: bare ``Verifier.verify`` of a 5 KB
  signed package, which the router does once per package and which bounds its
  rate from above (each package makes one leaf);
- checkpoint latency at the tree size reached: the right edge from the store,
  Ed25519 note signature, an RFC 3161 token from the development TSA over HTTP,
  the consistency proof from the previous checkpoint, and the store;
- proofs at that size: one inclusion proof and one consistency proof from the store.

PostgreSQL: ``EDX_BENCH_DATABASE_URL`` names a server (default the local one); a
scratch database is created and dropped. Run with
``.venv/bin/python -m bench.bench_tlog``.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._postgres import scratch_database
from bench.bench_signing import SENDER, _package
from bus.lifecycle import EventKind, LifecycleEvent, PackageKind, Source, event_id
from bus.store import create_store_engine
from bus.tlog import Coordinates, LeafRecord, LogStore, leaf_from_event, make_checkpoint, upgrade
from bus.tlog.tsa_http import TsaServer
from edxml import StatusCode
from signing import DevPki, DevTsa, Frontier, Verifier, load_log_signer

LEAVES = 100_000
BATCH = 2_000


#: The step an event id covers, as the router names it.
_STEPS = {
    EventKind.STATUS: f"{EventKind.STATUS.value}:{StatusCode.ARRIVED.value}",
    EventKind.REJECTED: f"{EventKind.REJECTED.value}:replay",
}


def _event(kind: EventKind, n: int) -> LifecycleEvent:
    """A lifecycle event as the router writes one (only the fields a leaf reads)."""
    is_status = kind is EventKind.STATUS
    document_id = f"000.00.00.G22,2026/11/29,{n // 3}/UBND-VP"
    recipient = "000.00.00.H41" if is_status else None
    digest = hashlib.sha256(f"package {n}".encode()).hexdigest()
    return LifecycleEvent(
        event_id=event_id(document_id, recipient, _STEPS.get(kind, kind.value), digest),
        kind=kind,
        occurred_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC) + timedelta(milliseconds=n),
        document_id=document_id,
        actor="000.00.00.G22",
        package_kind=PackageKind.STATUS if is_status else PackageKind.DOCUMENT,
        content_digest=digest,
        source=Source("edx.submit", n % 3, n),
        recipient=recipient,
        status_code=StatusCode.ARRIVED if is_status else None,
        reason_code="replay" if kind is EventKind.REJECTED else None,
        recipients=("000.00.00.H41", "000.00.24.H44") if kind is EventKind.SUBMITTED else (),
    )


def _leaves(count: int) -> list[LeafRecord]:
    kinds = [EventKind.SUBMITTED, EventKind.STATUS, EventKind.REJECTED]
    found = []
    for n in range(count):
        leaf = leaf_from_event(_event(kinds[n % 3], n), Coordinates("edx.events", 0, n))
        assert leaf is not None
        found.append(leaf)
    return found


def _append_rate(url: str, leaves: list[LeafRecord]) -> tuple[float, LogStore]:
    engine = create_store_engine(url)
    upgrade(engine)
    store = LogStore(engine)
    started = time.perf_counter()
    for start in range(0, len(leaves), BATCH):
        chunk = leaves[start : start + BATCH]
        store.append(chunk, {("edx.events", 0): start + len(chunk)})
    return len(leaves) / (time.perf_counter() - started), store


def _verify_rate(pki: DevPki) -> float:
    pki.issue(SENDER, "UBND Tỉnh Nghệ An")
    signed = pki.signer(SENDER).sign(_package(1_800))
    verifier = Verifier(pki.trust_store())
    verifier.verify(signed)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.0:
        verifier.verify(signed)
        count += 1
    return count / (time.perf_counter() - started)


async def _checkpoint_latency(store: LogStore, pki: DevPki) -> tuple[float, float, float]:
    signer = load_log_signer(pki.directory, "bench.edxbus/log")
    hashes = store.leaf_hashes()
    half = Frontier()
    for digest in hashes[: len(hashes) // 2]:
        half.append(digest)
    with TsaServer(DevTsa.from_pki(pki.directory)) as tsa:
        await make_checkpoint(store, signer, tsa.url, half)
        started = time.perf_counter()
        stored = await make_checkpoint(store, signer, tsa.url)  # root from the store
        store.consistency_proof(len(hashes) // 2, stored.tree_size)
        latency = time.perf_counter() - started
    started = time.perf_counter()
    store.inclusion_proof(len(hashes) // 3, stored.tree_size)
    inclusion = time.perf_counter() - started
    started = time.perf_counter()
    store.consistency_proof(len(hashes) // 2, stored.tree_size)
    consistency = time.perf_counter() - started
    return latency, inclusion, consistency


def main() -> None:
    leaves = _leaves(LEAVES)
    with tempfile.TemporaryDirectory() as tmp:
        pki = DevPki.init(Path(tmp) / "pki")
        router_ceiling = _verify_rate(pki)
        print(f"router ceiling (bare Verifier.verify, 5 KB RSA): {router_ceiling:,.0f} packages/s")
        rows = []
        sqlite_rate, sqlite_store = _append_rate(f"sqlite:///{Path(tmp) / 'log.db'}", leaves)
        rows.append(("SQLite", sqlite_rate))
        with scratch_database("bench_tlog") as url:
            pg_rate, pg_store = _append_rate(url, leaves)
            rows.append(("PostgreSQL", pg_rate))
            pg_latency = asyncio.run(_checkpoint_latency(pg_store, pki))
            pg_store.engine.dispose()
        sqlite_latency = asyncio.run(_checkpoint_latency(sqlite_store, pki))
        sqlite_store.engine.dispose()
        print(f"{'store':>11} {'leaves/s':>10} {'x router ceiling':>17}")
        for name, rate in rows:
            print(f"{name:>11} {rate:>10,.0f} {rate / router_ceiling:>17.1f}")
        print(f"at {LEAVES:,} leaves: checkpoint latency (root, sign, TSA, consistency, store)")
        for name, (latency, inclusion, consistency) in (
            ("SQLite", sqlite_latency),
            ("PostgreSQL", pg_latency),
        ):
            print(
                f"{name:>11}: checkpoint {latency * 1000:,.0f} ms, inclusion proof "
                f"{inclusion * 1000:,.0f} ms, consistency proof {consistency * 1000:,.0f} ms"
            )


if __name__ == "__main__":
    main()
