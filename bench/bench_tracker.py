"""Tracker benchmarks: ingest rate into SQLite and PostgreSQL, replay verification rate.

Each figure is printed beside a baseline measured in the same run:

- ingest: :func:`bus.store.ingest` (decode, dedupe, hash chain, documents, deliveries,
  positions, one transaction per batch) against a bare SQLAlchemy ``executemany`` of
  the very rows it produced, into the same empty tables, in the same batch sizes;
- replay: :func:`bus.audit.audit_record` + :func:`bus.audit.build_trails` (verify,
  parse, chain) against a bare ``Verifier.verify`` of the same packages.

PostgreSQL: ``EDX_BENCH_DATABASE_URL`` names a server (default the local one at
127.0.0.1:5432); a scratch database is created and dropped. Run with
``.venv/bin/python -m bench.bench_tracker``.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import insert, select

from bench._postgres import scratch_database
from bus.audit import LogRecord, audit_record, build_trails
from bus.lifecycle import EventKind, LifecycleEvent, PackageKind, Source, encode_event, event_id
from bus.store import IncomingRecord, create_store_engine, ingest, upgrade
from bus.store.schema import consumer_positions, deliveries, documents, history
from bus.verification import PackageReader
from edxml import StatusCode, build, new_document, new_status
from signing import DevPki, Verifier

DOCUMENTS = 200
RECIPIENTS_PER_DOCUMENT = 20
BATCH = 1000
REPLAY_DOCUMENTS = 30


def _event(
    kind: EventKind,
    document_id: str,
    actor: str,
    at: datetime,
    n: int,
    *,
    recipient: str | None = None,
    status_code: StatusCode | None = None,
    recipients: tuple[str, ...] = (),
) -> LifecycleEvent:
    digest = hashlib.sha256(f"{kind}|{document_id}|{actor}|{recipient}".encode()).hexdigest()
    step = kind.value if status_code is None else f"{kind.value}:{status_code.value}"
    return LifecycleEvent(
        event_id=event_id(document_id, recipient, step, digest),
        kind=kind,
        occurred_at=at,
        document_id=document_id,
        actor=actor,
        package_kind=PackageKind.STATUS if kind is EventKind.STATUS else PackageKind.DOCUMENT,
        content_digest=digest,
        source=Source("edx.submit", 0, n),
        recipient=recipient,
        status_code=status_code,
        recipients=recipients,
        due_date=date(2026, 3, 10),
        subject="Chỉ thị",
    )


def _records() -> list[IncomingRecord]:
    """The lifecycle of DOCUMENTS directives to RECIPIENTS_PER_DOCUMENT agencies each."""
    events: list[LifecycleEvent] = []
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    for d in range(DOCUMENTS):
        sender = f"000.00.00.H{d % 60 + 10:02d}"
        doc = f"{sender},2026/03/02,{d}/UBND"
        recipients = tuple(
            f"{r // 10:03d}.{r % 10:02d}.{d % 90 + 1:02d}.H{d % 60 + 10:02d}"
            for r in range(RECIPIENTS_PER_DOCUMENT)
        )
        events.append(_event(EventKind.SUBMITTED, doc, sender, t0, d, recipients=recipients))
        for step, code in enumerate((None, StatusCode.ARRIVED, StatusCode.ACCEPTED)):
            for r in recipients:
                at = t0 + timedelta(minutes=step)
                if code is None:
                    events.append(_event(EventKind.DELIVERED, doc, sender, at, d, recipient=r))
                else:
                    events.append(
                        _event(EventKind.STATUS, doc, r, at, d, recipient=sender, status_code=code)
                    )
    return [
        IncomingRecord("edx.events", 0, n, e.document_id.encode(), encode_event(e))
        for n, e in enumerate(events)
    ]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _measure_ingest(
    url_factory: Callable[[], AbstractContextManager[str]], records: list[IncomingRecord]
) -> tuple[float, float]:
    """(ingest events/s, bare executemany rows-of-the-same-events/s)."""
    with url_factory() as url:
        upgrade(url)
        engine = create_store_engine(url)
        started = time.perf_counter()
        for start in range(0, len(records), BATCH):
            ingest(engine, records[start : start + BATCH], group="bench")
        ingest_seconds = time.perf_counter() - started
        with engine.connect() as connection:
            produced = {
                table: [dict(r) for r in connection.execute(select(table)).mappings()]
                for table in (history, documents, deliveries, consumer_positions)
            }
            for table in (history, documents, deliveries, consumer_positions):
                connection.execute(table.delete())
            connection.commit()
        # The baseline: the same rows, executemany, one transaction per batch of events.
        per_batch = max(1, len(produced[history]) // max(1, len(records) // BATCH))
        started = time.perf_counter()
        history_rows = produced[history]
        for start in range(0, len(history_rows), per_batch):
            with engine.begin() as connection:
                connection.execute(insert(history), history_rows[start : start + per_batch])
        with engine.begin() as connection:
            connection.execute(insert(documents), produced[documents])
            connection.execute(insert(deliveries), produced[deliveries])
            connection.execute(insert(consumer_positions), produced[consumer_positions])
        bare_seconds = time.perf_counter() - started
        engine.dispose()
    return _rate(len(records), ingest_seconds), _rate(len(records), bare_seconds)


@contextmanager
def _sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"


def _replay_figures() -> tuple[float, float, int]:
    """(replay documents/s, bare verify documents/s, packages per document)."""
    with tempfile.TemporaryDirectory() as directory:
        pki = DevPki.init(Path(directory) / "pki")
        sender, recipients = "000.00.00.H41", ["000.00.01.H41", "000.00.02.H41"]
        for code in (sender, *recipients):
            pki.issue(code, code)
        verifier = Verifier(pki.trust_store())
        at = datetime.now(UTC) + timedelta(minutes=1)
        records: list[LogRecord] = []
        for d in range(REPLAY_DOCUMENTS):
            doc = new_document(
                sender,
                recipients,
                number=str(d),
                notation="UBND",
                subject="Chỉ thị",
                signer_name="A",
            )
            packages = [pki.signer(sender).sign(build(doc))]
            packages += [
                pki.signer(r).sign(build(new_status(r, doc, StatusCode.ARRIVED, "ok")))
                for r in recipients
            ]
            records += [LogRecord("edx.submit", 0, len(records), at, None, p) for p in packages]
        started = time.perf_counter()
        for record in records:
            verifier.verify(record.value or b"", at=record.timestamp)
        bare = time.perf_counter() - started
        started = time.perf_counter()
        reader = PackageReader(verifier, agency_pattern=None)
        audited = [audit_record(record, reader) for record in records]
        trails = build_trails(audited)
        full = time.perf_counter() - started
        if not all(p.verified for p in audited) or len(trails) != REPLAY_DOCUMENTS:
            raise RuntimeError("the replay benchmark's packages did not all verify")
    return _rate(REPLAY_DOCUMENTS, full), _rate(REPLAY_DOCUMENTS, bare), 1 + len(recipients)


def main() -> None:
    records = _records()
    print(
        f"tracker ingest: {len(records)} events ({DOCUMENTS} documents x "
        f"{RECIPIENTS_PER_DOCUMENT} recipients), batches of {BATCH}"
    )
    for name, factory in (
        ("sqlite", _sqlite_url),
        ("postgresql", partial(scratch_database, "edx_bench")),
    ):
        try:
            ingest_rate, bare_rate = _measure_ingest(factory, records)
        except Exception as error:  # a bench without a server reports it and goes on
            print(f"  {name:<10} not measured: {type(error).__name__}: {error}")
            continue
        print(
            f"  {name:<10} ingest {ingest_rate:9.0f} events/s   bare executemany "
            f"{bare_rate:9.0f} events/s   ratio {ingest_rate / bare_rate:5.2f}"
        )
    replay_rate, verify_rate, per_doc = _replay_figures()
    print(f"replay verification: {REPLAY_DOCUMENTS} documents x {per_doc} signed packages")
    print(
        f"  replay {replay_rate:7.1f} documents/s   bare Verifier.verify "
        f"{verify_rate:7.1f} documents/s   ratio {replay_rate / verify_rate:5.2f}"
    )


if __name__ == "__main__":
    main()
