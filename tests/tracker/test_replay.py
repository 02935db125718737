"""The auditor's replay against a real broker: signed packages on edx.submit are
re-verified, trails rebuilt and compared with the tracker; tampering is reported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, insert, update

from bus.audit import (
    DivergenceKind,
    ReplayWindow,
    read_trail_file,
    run_replay,
)
from bus.errors import TrailFileError
from bus.kafka import make_producer
from bus.lifecycle import LifecycleEvent, Source, encode_event
from bus.records import content_digest
from bus.router.records import delivered_event, status_event, submitted_event
from bus.settings import Settings
from bus.store import IncomingRecord, ingest
from bus.store.schema import deliveries, history
from bus.topics import ensure_topics
from cli.main import cli
from edxml import DocumentPackage, Mode, StatusCode, build, new_document, new_status, parse
from signing import DevPki, Signer

pytestmark = pytest.mark.kafka

PROVINCE = "000.00.00.H41"
RECIPIENTS = ["000.00.01.H41", "000.00.20.H41", "000.01.20.H41", "001.01.20.H41"]
# Records are verified at their own timestamps: the session's certificates were issued
# just now, so the log's records are written from a few minutes ahead of now on.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)


@dataclass(frozen=True)
class Submitted:
    """One package as the log holds it."""

    data: bytes
    sender: str
    partition: int
    offset: int
    timestamp: datetime
    document_id: str
    recipients: tuple[str, ...] = ()
    status_code: StatusCode | None = None


async def _submit(settings: Settings, signer: Signer, data: bytes, at: datetime) -> tuple[int, int]:
    producer = make_producer(settings)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            settings.topics.submit,
            data,
            key=signer.agency_code.encode(),
            timestamp_ms=int(at.timestamp() * 1000),
        )
    finally:
        await producer.stop()
    return meta.partition, meta.offset


async def _exchange(
    settings: Settings, signer_for: Callable[[str], Signer], *, day: int = 0, number: str = "12"
) -> list[Submitted]:
    """A directive and its answers, submitted to the log."""
    at = T0 + timedelta(days=day)
    doc: DocumentPackage = new_document(
        PROVINCE,
        RECIPIENTS,
        number=number,
        notation="UBND-VP",
        subject="Chỉ thị",
        due_date=(at + timedelta(days=30)).date(),  # the router refuses a past due date
        signer_name="Nguyễn Văn A",
    )
    out: list[Submitted] = []
    data = signer_for(PROVINCE).sign(build(doc))
    partition, offset = await _submit(settings, signer_for(PROVINCE), data, at)
    out.append(Submitted(data, PROVINCE, partition, offset, at, doc.document_id, tuple(RECIPIENTS)))
    answers = [(r, StatusCode.ARRIVED) for r in RECIPIENTS] + [
        (RECIPIENTS[0], StatusCode.ACCEPTED),
        (RECIPIENTS[1], StatusCode.REFUSED),
    ]
    for minute, (agency, code) in enumerate(answers, start=1):
        when = at + timedelta(minutes=minute)
        status = signer_for(agency).sign(build(new_status(agency, doc, code, "ok")))
        partition, offset = await _submit(settings, signer_for(agency), status, when)
        out.append(
            Submitted(status, agency, partition, offset, when, doc.document_id, status_code=code)
        )
    return out


def _route(engine: Engine, settings: Settings, log: list[Submitted]) -> None:
    """What the router and the tracker record for these packages (no router needed):
    the router's own event builders over the packages as they sit on edx.submit."""
    events: list[LifecycleEvent] = []
    for item in log:
        package = parse(item.data, mode=Mode.TOLERANT).package
        digest = content_digest(item.data)
        source = Source(settings.topics.submit, item.partition, item.offset)
        if isinstance(package, DocumentPackage):
            events.append(submitted_event(package, digest, source, item.timestamp))
            events += [
                delivered_event(package, r, digest, source, item.timestamp) for r in item.recipients
            ]
        else:
            events.append(status_event(package, PROVINCE, digest, source, item.timestamp))
    records = [
        IncomingRecord(settings.topics.events, 0, n, None, encode_event(e))
        for n, e in enumerate(events)
    ]
    ingest(engine, records, group="replay-test")


@pytest.fixture
def audited(bus_settings: Settings, dev_pki: DevPki, db_url: str) -> Settings:
    return bus_settings.with_values(pki=dev_pki.directory, db_url=db_url)


@pytest.fixture
def tracker_db(store: Engine) -> Engine:
    """The tracker's database of the audited settings, migrated."""
    return store


async def test_a_faithful_tracker_replays_clean_and_exports_a_verified_trail(
    audited: Settings, tracker_db: Engine, signer_for: Callable[[str], Signer], tmp_path: Path
) -> None:
    await ensure_topics(audited)
    log = await _exchange(audited, signer_for)
    _route(tracker_db, audited, log)
    seen: list[tuple[int, int]] = []
    out = tmp_path / "trail.avro"
    report = await run_replay(audited, out=out, progress=lambda d, t: seen.append((d, t)))
    assert report.divergences == ()
    assert report.clean
    assert (report.packages, report.verified, report.documents, report.trail_steps) == (7, 7, 1, 7)
    assert seen
    assert seen[-1][0] == seen[-1][1] == 7
    [trail] = read_trail_file(out)
    assert trail.check.intact
    assert trail.document_id == log[0].document_id
    assert [e.kind for e in trail.entries] == ["SUBMITTED"] + ["STATUS"] * 6
    assert [e.status_code for e in trail.entries[1:]] == ["01"] * 4 + ["03", "02"]
    assert trail.entries[0].actor == PROVINCE


async def test_tampering_with_the_tracker_is_reported(
    audited: Settings, tracker_db: Engine, signer_for: Callable[[str], Signer]
) -> None:
    await ensure_topics(audited)
    log = await _exchange(audited, signer_for)
    _route(tracker_db, audited, log)
    document_id = log[0].document_id
    with tracker_db.begin() as connection:
        # 1. a delivery deleted
        connection.execute(delete(deliveries).where(deliveries.c.recipient == RECIPIENTS[2]))
        # 2. a refusal turned into an acceptance in the history
        connection.execute(
            update(history).where(history.c.status_code == "02").values(status_code="03")
        )
        # 3. a recipient nobody sent to
        connection.execute(
            insert(deliveries).values(
                document_id=document_id, recipient="000.00.99.H41", sender=PROVINCE
            )
        )
    report = await run_replay(audited)
    found = {(d.kind, d.recipient) for d in report.divergences}
    assert (DivergenceKind.MISSING, RECIPIENTS[2]) in found
    assert (DivergenceKind.ALTERED, RECIPIENTS[1]) in found
    assert (DivergenceKind.EXTRA, "000.00.99.H41") in found
    assert not report.clean


async def test_a_forged_package_the_tracker_accepted_is_unverified(
    audited: Settings, tracker_db: Engine, signer_for: Callable[[str], Signer]
) -> None:
    await ensure_topics(audited)
    log = await _exchange(audited, signer_for)
    forged_bytes = log[0].data.replace("Chỉ thị".encode(), "Chỉ thi".encode())
    partition, offset = await _submit(
        audited, signer_for(PROVINCE), forged_bytes, T0 + timedelta(hours=1)
    )
    forged = replace(
        log[0],
        data=forged_bytes,
        partition=partition,
        offset=offset,
        timestamp=T0 + timedelta(hours=1),
        document_id="forged-doc",
    )
    _route(tracker_db, audited, [*log, forged])
    report = await run_replay(audited)
    assert report.unverified == 1
    kinds = {(d.kind, d.coordinates) for d in report.divergences}
    assert (DivergenceKind.UNVERIFIED, f"{audited.topics.submit}/{partition}/{offset}") in kinds


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_windows_and_agency_cuts_select_by_record_time(
    audited: Settings, tracker_db: Engine, signer_for: Callable[[str], Signer]
) -> None:
    await ensure_topics(audited)
    log = []
    for day in range(3):
        log += await _exchange(audited, signer_for, day=day, number=str(20 + day))
    _route(tracker_db, audited, log)
    middle = await run_replay(
        audited, ReplayWindow(since=T0 + timedelta(days=1), until=T0 + timedelta(days=1, hours=1))
    )
    assert (middle.packages, middle.documents, middle.divergences) == (7, 1, ())
    late = await run_replay(audited, ReplayWindow(since=T0 + timedelta(days=1, minutes=3)))
    assert late.documents == 2  # day 1 from its 3rd status on, and day 2
    one = await run_replay(audited, ReplayWindow(agency=RECIPIENTS[3]))
    assert one.packages == 3 * 2  # three directives to it, three of its 01
    assert one.divergences == ()
    none = await run_replay(audited, ReplayWindow(since=T0 + timedelta(days=30)))
    assert (none.packages, none.clean) == (0, True)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cli_replay_and_trail_from_file(
    audited: Settings,
    tracker_db: Engine,
    signer_for: Callable[[str], Signer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await ensure_topics(audited)
    log = await _exchange(audited, signer_for)
    _route(tracker_db, audited, log)
    for name, value in {
        "EDX_BOOTSTRAP": audited.broker.bootstrap,
        "EDX_PKI": str(audited.keys.pki),
        "EDX_DB_URL": audited.resolved_db_url,
        "EDX_TOPIC_SUBMIT": audited.topics.submit,
        "EDX_HOME": str(audited.home),
    }.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "trail.avro"
    runner = CliRunner()
    # The CLI runs its own event loop: run it in a thread, away from the test's loop.
    import asyncio

    clean = await asyncio.to_thread(
        runner.invoke, cli, ["replay", "--no-progress", "--out", str(out)]
    )
    assert clean.exit_code == 0, clean.output
    assert "CLEAN" in clean.output
    shown = runner.invoke(cli, ["trail", "--from-file", str(out), log[0].document_id])
    assert shown.exit_code == 0, shown.output
    assert "hash chain intact: 7 step(s)" in shown.output
    as_json = runner.invoke(cli, ["trail", "--json", "--from-file", str(out)])
    assert '"intact": true' in as_json.output

    with tracker_db.begin() as connection:
        connection.execute(delete(deliveries).where(deliveries.c.recipient == RECIPIENTS[0]))
    diverged = await asyncio.to_thread(runner.invoke, cli, ["replay", "--json"])
    assert diverged.exit_code == 3, diverged.output
    assert '"kind": "missing"' in diverged.output
    assert RECIPIENTS[0] in diverged.output

    # A tampered export is caught on reading it back.
    with out.open("rb") as handle:
        reader = fastavro.reader(handle)
        schema = reader.writer_schema
        steps = list(reader)
    steps[3]["status_code"] = "06"
    tampered = tmp_path / "tampered.avro"
    with tampered.open("wb") as handle:
        fastavro.writer(handle, schema, steps)
    broken = runner.invoke(cli, ["trail", "--from-file", str(tampered)])
    assert broken.exit_code == 3
    assert "BROKEN at step 4" in broken.output


def test_a_file_that_is_not_a_trail_is_a_named_error(tmp_path: Path) -> None:
    not_avro = tmp_path / "x.avro"
    not_avro.write_bytes(b"hello")
    with pytest.raises(TrailFileError):
        read_trail_file(not_avro)
    other = tmp_path / "other.avro"
    with other.open("wb") as handle:
        fastavro.writer(
            handle,
            {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]},
            [{"x": 1}],
        )
    with pytest.raises(TrailFileError):
        read_trail_file(other)
    result = CliRunner().invoke(cli, ["trail", "--from-file", str(not_avro)])
    assert result.exit_code == 1
    assert "trail-file-error" in result.output
