"""The outbox on a real SQLite file: durable, idempotent, and honest about delivery."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from agency_client import DuplicateDocumentError, OutboxError
from agency_client._inbox_store import InboxStore
from agency_client._store import METADATA, VERSION_TABLE, LocalDatabase
from agency_client.outbox import Outbox, OutboxState, PackageKind
from bus.records import content_digest

_HEAD = "agency0003"

DOC = "000.00.00.H41,2026/11/23,12/UBND-VP"
DATA = b"<edXML>signed bytes</edXML>"
RECIPIENTS = ("000.00.01.H41", "000.00.24.H41", "000.46.24.H41")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Outbox:
    with Outbox(tmp_path / "outbox.sqlite", clock=clock) as box:
        yield box


def test_a_document_is_pending_until_every_recipient_arrived(outbox: Outbox) -> None:
    entry = outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    assert entry.state is OutboxState.PENDING
    assert entry.missing == tuple(sorted(RECIPIENTS))
    assert entry.submit_count == 0

    for i, recipient in enumerate(RECIPIENTS):
        assert outbox.record_status(DOC, recipient, "01", "arrived", f"d{i}")
        entry = outbox.get(DOC)
        assert entry is not None
        expected = OutboxState.DELIVERED if i == len(RECIPIENTS) - 1 else OutboxState.PENDING
        assert entry.state is expected
    assert entry.missing == ()
    assert [s.recipient for s in outbox.statuses(DOC)] == list(RECIPIENTS)


def test_a_later_status_counts_as_arrival_when_its_01_was_lost(outbox: Outbox) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS[:1])
    outbox.record_status(DOC, RECIPIENTS[0], "03", "registered", "d3")
    entry = outbox.get(DOC)
    assert entry is not None
    assert entry.state is OutboxState.DELIVERED


def test_the_same_status_twice_is_recorded_once(outbox: Outbox) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    assert outbox.record_status(DOC, RECIPIENTS[0], "01", "arrived", "same")
    assert not outbox.record_status(DOC, RECIPIENTS[0], "01", "arrived", "same")
    assert len(outbox.statuses(DOC)) == 1


def test_adding_the_same_bytes_again_is_idempotent(outbox: Outbox) -> None:
    first = outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    again = outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    assert again == first
    assert len(outbox.pending()) == 1


def test_other_bytes_under_a_document_id_already_kept_are_refused(outbox: Outbox) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    other = DATA + b" "
    with pytest.raises(DuplicateDocumentError) as caught:
        outbox.add_document(DOC, other, content_digest(other), RECIPIENTS)
    assert caught.value.document_id == DOC
    assert caught.value.reason_code == "duplicate-document-id"
    stored = outbox.get(DOC)
    assert stored is not None
    assert stored.data == DATA


def test_resubmission_is_due_after_the_silence(outbox: Outbox, clock: FakeClock) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    silence = timedelta(seconds=300)
    # Never published: due at once (a crash between the outbox write and the publish).
    assert [e.document_id for e in outbox.due_for_resubmit(silence)] == [DOC]
    outbox.mark_submitted(PackageKind.DOCUMENT, DOC, content_digest(DATA))
    assert outbox.due_for_resubmit(silence) == []
    clock.advance(299)
    assert outbox.due_for_resubmit(silence) == []
    clock.advance(2)
    due = outbox.due_for_resubmit(silence)
    assert [e.data for e in due] == [DATA]
    assert due[0].submit_count == 1
    for recipient in RECIPIENTS:
        outbox.record_status(DOC, recipient, "01", "", recipient)
    assert outbox.due_for_resubmit(silence) == []


def test_a_rejection_stops_resubmission_and_keeps_the_reason(
    outbox: Outbox, clock: FakeClock
) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    outbox.mark_submitted(PackageKind.DOCUMENT, DOC, content_digest(DATA))
    entry = outbox.mark_rejected(DOC, content_digest(DATA), "unknown-agency", "no such agency")
    assert entry is not None
    assert entry.state is OutboxState.REJECTED
    assert (entry.reason_code, entry.reason) == ("unknown-agency", "no such agency")
    clock.advance(10_000)
    assert outbox.due_for_resubmit(timedelta(seconds=1)) == []
    assert outbox.mark_rejected(DOC, "f" * 64, "x", "y") is None


def test_status_packages_are_kept_and_published_once(outbox: Outbox) -> None:
    status = b"<edXML>status 03</edXML>"
    digest = content_digest(status)
    entry = outbox.add_status(DOC, "03", status, digest)
    assert entry.kind is PackageKind.STATUS
    assert entry.state is OutboxState.PENDING
    assert [e.digest for e in outbox.due_for_resubmit(timedelta(seconds=300))] == [digest]
    outbox.mark_submitted(PackageKind.STATUS, DOC, digest)
    (sent,) = outbox.sent_statuses(DOC)
    assert sent.state is OutboxState.PUBLISHED
    assert sent.status_code == "03"
    assert outbox.due_for_resubmit(timedelta(seconds=0)) == []


def test_the_outbox_survives_reopening(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "agency" / "outbox.sqlite"
    with Outbox(path, clock=clock) as box:
        box.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
        box.record_status(DOC, RECIPIENTS[0], "01", "", "a")
    with Outbox(path, clock=clock) as box:
        (entry,) = box.pending()
        assert entry.data == DATA
        assert entry.arrived == frozenset({RECIPIENTS[0]})
        assert entry.created_at == clock.now


def test_an_unusable_path_is_a_named_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutboxError):
        Outbox(blocker / "outbox.sqlite")


def test_settled_packages_can_be_forgotten_pending_ones_never(
    outbox: Outbox, clock: FakeClock
) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS[:1])
    outbox.record_status(DOC, RECIPIENTS[0], "01", "", "a")
    waiting = "000.00.00.H41,2026/11/23,13/UBND-VP"
    outbox.add_document(waiting, b"other", content_digest(b"other"), RECIPIENTS[:1])
    clock.advance(3600)
    assert outbox.forget_settled(timedelta(hours=2)) == 0
    clock.advance(3 * 3600)
    assert outbox.forget_settled(timedelta(hours=2)) == 1
    assert outbox.get(DOC) is None
    assert outbox.statuses(DOC) == []
    assert [e.document_id for e in outbox.pending()] == [waiting]


# --- a file written before the schema had migrations ------------------------------------

# The tables exactly as the stores created them then: timestamps were epoch seconds.
_LEGACY_OUTBOX = (
    """CREATE TABLE outbox_packages (
        id INTEGER NOT NULL, document_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        digest VARCHAR(64) NOT NULL, data BLOB NOT NULL, state VARCHAR NOT NULL,
        created_at FLOAT NOT NULL, submitted_at FLOAT, submit_count INTEGER NOT NULL,
        reason_code VARCHAR, reason TEXT, answers VARCHAR, status_code VARCHAR(2),
        PRIMARY KEY (id),
        CONSTRAINT uq_outbox_package UNIQUE (kind, document_id, digest))""",
    """CREATE TABLE outbox_recipients (
        document_id VARCHAR NOT NULL, recipient VARCHAR NOT NULL, arrived_at FLOAT,
        PRIMARY KEY (document_id, recipient))""",
    """CREATE TABLE outbox_statuses (
        id INTEGER NOT NULL, document_id VARCHAR NOT NULL, recipient VARCHAR NOT NULL,
        status_code VARCHAR(2) NOT NULL, description TEXT NOT NULL,
        digest VARCHAR(64) NOT NULL, at FLOAT NOT NULL, PRIMARY KEY (id),
        CONSTRAINT uq_outbox_status UNIQUE (document_id, recipient, digest))""",
)

# Instants the old code wrote with ``datetime.timestamp()``; the last rounds up on reading.
_CREATED = 1763863200.123456
_SUBMITTED = 1763863201.9999996
_ARRIVED = 1763863260.5
_STATUS_AT = 1763863261.0000004


def _old_reading(seconds: float) -> datetime:
    """What the old code read back from an epoch-seconds column."""
    return datetime.fromtimestamp(seconds, UTC)


def _write_legacy_outbox(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        for statement in _LEGACY_OUTBOX:
            db.execute(statement)
        db.execute(
            "INSERT INTO outbox_packages (id, document_id, kind, digest, data, state,"
            " created_at, submitted_at, submit_count) VALUES (1, ?, 'document', ?, ?,"
            " 'pending', ?, ?, 1)",
            (DOC, content_digest(DATA), DATA, _CREATED, _SUBMITTED),
        )
        db.executemany(
            "INSERT INTO outbox_recipients (document_id, recipient, arrived_at) VALUES (?, ?, ?)",
            [
                (DOC, RECIPIENTS[0], _ARRIVED),
                (DOC, RECIPIENTS[1], None),
                (DOC, RECIPIENTS[2], None),
            ],
        )
        db.execute(
            "INSERT INTO outbox_statuses (id, document_id, recipient, status_code, description,"
            " digest, at) VALUES (1, ?, ?, '01', '', 'a', ?)",
            (DOC, RECIPIENTS[0], _STATUS_AT),
        )


def test_an_outbox_written_before_migrations_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    _write_legacy_outbox(path)
    with Outbox(path) as box:
        entry = box.get(DOC)
        assert entry is not None
        assert entry.created_at == _old_reading(_CREATED)
        assert entry.submitted_at == _old_reading(_SUBMITTED)
        assert entry.arrived == frozenset({RECIPIENTS[0]})
        assert entry.data == DATA
        (status,) = box.statuses(DOC)
        assert status.at == _old_reading(_STATUS_AT)
        # Times compare as before: sent a year ago, due again unless "after" is longer.
        assert [e.document_id for e in box.due_for_resubmit(timedelta(days=1))] == [DOC]
        assert box.due_for_resubmit(timedelta(days=3650)) == []
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version_num FROM agency_alembic_version").fetchall() == [(_HEAD,)]
        # The inbox store's tables, which an outbox opened alone never made, were added.
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"inbox_taken", "inbox_quarantine"} <= tables
    # Opening it again changes nothing.
    with Outbox(path) as box:
        again = box.get(DOC)
        assert again is not None
        assert again.created_at == _old_reading(_CREATED)


def test_the_migrated_file_is_exactly_the_stores_tables(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    _write_legacy_outbox(path)
    for opened in (path, tmp_path / "fresh.sqlite"):
        Outbox(opened).close()
        engine = create_engine(f"sqlite:///{opened}")
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
                )
                assert compare_metadata(context, METADATA) == []
        finally:
            engine.dispose()


def test_outbox_and_inbox_store_share_one_given_file(tmp_path: Path, clock: FakeClock) -> None:
    with LocalDatabase(tmp_path / "agency.sqlite") as database:
        box = Outbox(database.path, clock=clock, database=database)
        store = InboxStore(database.path, clock=clock, database=database)
        assert box.group_commit is store.group_commit
        box.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
        store.record_taken("document", "000.00.00.H44", DOC, "d", b"x")
        box.close()  # not its file: the store goes on
        assert store.taken_count() == 1
        assert box.get(DOC) is not None


_CODES = st.sampled_from(["01", "02", "03", "05", "13"])


@settings(max_examples=25, deadline=None)
@given(
    statuses=st.lists(
        st.tuples(st.sampled_from([DOC, "000.00.00.H41,2026/11/23,13/UBND-VP"]), _CODES),
        min_size=1,
        max_size=8,
    )
)
def test_a_kept_status_is_the_entry_read_back_and_the_first_01_is_the_arrival(
    tmp_path_factory: pytest.TempPathFactory, statuses: list[tuple[str, str]]
) -> None:
    """Differential: what keeping returns (built, not read back) equals what the file
    holds, a status kept again returns the first one's entry, and ``arrival`` (by the
    answers index) is the oldest 01 ``sent_statuses`` lists for the document."""
    path = tmp_path_factory.mktemp("statuses") / "outbox.sqlite"
    with Outbox(path, clock=FakeClock()) as box:
        for n, (answers, code) in enumerate(statuses):
            data = f"<edXML>{answers} {code} {n % 3}</edXML>".encode()
            kept = box.add_status(answers, code, data, content_digest(data))
            stored = [e for e in box.sent_statuses(answers) if e.digest == content_digest(data)]
            assert [kept] == stored
        for answers in {a for a, _ in statuses}:
            arrivals = [e for e in box.sent_statuses(answers) if e.status_code == "01"]
            assert box.arrival(answers) == (arrivals[0] if arrivals else None)
            assert not box.has_document(answers)
        box.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
        assert box.has_document(DOC)
