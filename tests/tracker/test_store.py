"""The tracker's store, run against SQLite and PostgreSQL: ingest, idempotence, the
hash chain, quarantine, positions and every query the clerk's commands use."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import OperationalError, StatementError

from bus import UtcDateTime, database_errors
from bus.errors import (
    BrokerUnavailableError,
    DatabaseError,
    DatabaseNotReadyError,
    DatabaseUnavailableError,
    UnknownDocumentError,
)
from bus.lifecycle import EventKind
from bus.store import (
    LevelCounts,
    TrackFilter,
    create_store_engine,
    current_revision,
    document_status,
    document_trail,
    head_revision,
    ingest,
    quarantined_records,
    stored_positions,
    track,
    upgrade,
)
from bus.store.schema import METADATA, deliveries, documents, history, quarantine
from edxml import StatusCode
from edxml.errors import InvalidAgencyCodeError, InvalidCodeListError
from tests.tracker.factory import (
    COMMUNES_L3,
    COMMUNES_L4,
    DEPARTMENTS,
    DIRECTIVE,
    DISTRICTS,
    PROVINCE,
    RECIPIENTS,
    T0,
    TODAY,
    EventLog,
    event,
    province_directive,
)

GROUP = "edx-tracker"


def _scenario(store: Engine, batch: int = 1000) -> EventLog:
    log = EventLog()
    log.add(*province_directive())
    for start in range(0, len(log.records), batch):
        ingest(store, log.records[start : start + batch], group=GROUP)
    return log


def _snapshot(store: Engine) -> tuple[list[tuple[object, ...]], ...]:
    with store.connect() as connection:
        return tuple(
            [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
            for table in (documents, deliveries, history)
        )


# --- migrations ------------------------------------------------------------------


def test_migrations_create_exactly_the_declared_schema(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # a second run is a no-op
    engine = create_store_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = compare_metadata(context, METADATA)
        assert diffs == []
    finally:
        engine.dispose()


def test_queries_on_a_database_never_migrated_name_the_problem(db_url: str) -> None:
    engine = create_store_engine(db_url)
    try:
        with pytest.raises(DatabaseNotReadyError):
            document_status(engine, DIRECTIVE)
    finally:
        engine.dispose()


# --- edx status -----------------------------------------------------------------


def test_status_lists_every_recipient_with_its_current_status_and_totals(store: Engine) -> None:
    _scenario(store)
    status = document_status(store, DIRECTIVE, today=TODAY)
    assert status.sender == PROVINCE
    assert status.subject == "Chỉ thị phòng chống lụt bão"
    assert status.due_date == date(2026, 3, 10)
    assert [r.recipient for r in status.recipients][:1] == [DEPARTMENTS[0]]
    assert len(status.recipients) == 26
    assert status.totals == {"delivered": 2, "01": 14, "02": 2, "03": 4, "06": 4, "overdue": 20}
    by_code = {r.recipient: r for r in status.recipients}
    done = by_code[DEPARTMENTS[0]]
    assert done.level == 2
    assert done.status == "06"
    assert done.status_words == "completed"
    assert set(done.steps) == {"01", "03", "06"}
    assert done.steps["01"] == T0 + timedelta(minutes=5)
    assert done.delivered_at == T0 + timedelta(seconds=1)
    assert not done.overdue
    refused = by_code[DEPARTMENTS[7]]
    assert (refused.status, refused.description, refused.overdue) == (
        "02",
        "Không thuộc thẩm quyền",
        False,
    )
    silent = by_code[COMMUNES_L4[-1]]
    assert (silent.status, silent.level, silent.overdue) == ("delivered", 4, True)
    # Before the due date nobody is late.
    assert document_status(store, DIRECTIVE, today=date(2026, 3, 10)).totals["overdue"] == 0


def test_status_of_an_unknown_document_is_a_named_error(store: Engine) -> None:
    with pytest.raises(UnknownDocumentError) as caught:
        document_status(store, "000.00.00.H99,2026/01/01,1/X")
    assert caught.value.reason_code == "unknown-document"


# --- edx track ------------------------------------------------------------------


def test_track_counts_per_level(store: Engine) -> None:
    _scenario(store)
    [doc] = track(store, TrackFilter(), today=TODAY)
    assert doc.document_id == DIRECTIVE
    assert doc.levels == (
        LevelCounts(
            2,
            recipients=11,
            delivered=11,
            arrived=11,
            accepted=5,
            completed=3,
            refused=1,
            overdue=7,
        ),
        LevelCounts(
            3, recipients=9, delivered=9, arrived=9, accepted=3, completed=1, refused=0, overdue=8
        ),
        LevelCounts(
            4, recipients=6, delivered=6, arrived=4, accepted=0, completed=0, refused=1, overdue=5
        ),
    )
    assert doc.total == LevelCounts(
        None,
        recipients=26,
        delivered=26,
        arrived=24,
        accepted=8,
        completed=4,
        refused=2,
        overdue=20,
    )


def test_track_under_a_district_counts_its_subtree_only(store: Engine) -> None:
    _scenario(store)
    [doc] = track(store, TrackFilter(under=DISTRICTS[0]), today=TODAY)
    assert doc.levels == (
        LevelCounts(
            2, recipients=1, delivered=1, arrived=1, accepted=1, completed=0, refused=0, overdue=1
        ),
        LevelCounts(
            3, recipients=5, delivered=5, arrived=5, accepted=3, completed=1, refused=0, overdue=4
        ),
        LevelCounts(
            4, recipients=6, delivered=6, arrived=4, accepted=0, completed=0, refused=1, overdue=5
        ),
    )
    [commune] = track(store, TrackFilter(under=COMMUNES_L3[0]), today=TODAY)
    assert commune.total.recipients == 7
    [province] = track(store, TrackFilter(under=PROVINCE), today=TODAY)
    assert province.total.recipients == 26
    assert track(store, TrackFilter(under="000.00.00.H42"), today=TODAY) == []


def test_track_overdue_lists_only_late_recipients(store: Engine) -> None:
    _scenario(store)
    [doc] = track(store, TrackFilter(overdue=True), today=TODAY)
    assert [(c.level, c.recipients, c.overdue) for c in doc.levels] == [
        (2, 7, 7),
        (3, 8, 8),
        (4, 5, 5),
    ]
    assert track(store, TrackFilter(overdue=True), today=date(2026, 3, 10)) == []
    [late_under] = track(store, TrackFilter(overdue=True, under=DISTRICTS[1]), today=TODAY)
    assert late_under.total.recipients == 1 + 4  # district 21 and its four level-3 units


def test_track_cuts_by_level_sender_recipient_status_and_date(store: Engine) -> None:
    _scenario(store)
    [level3] = track(store, TrackFilter(level=3), today=TODAY)
    assert [c.level for c in level3.levels] == [3]
    assert track(store, TrackFilter(sender=PROVINCE), today=TODAY)[0].total.recipients == 26
    assert track(store, TrackFilter(sender=DEPARTMENTS[0]), today=TODAY) == []
    [to_one] = track(store, TrackFilter(recipient=COMMUNES_L4[0]), today=TODAY)
    assert to_one.total == LevelCounts(None, 1, 1, 1, 0, 0, 1, 0)
    [refused] = track(store, TrackFilter(status="refused"), today=TODAY)
    assert refused.total.recipients == 2
    assert track(store, TrackFilter(status="06"), today=TODAY)[0].total.completed == 4
    assert track(store, TrackFilter(status="delivered"), today=TODAY)[0].total.recipients == 2
    assert track(store, TrackFilter(since=date(2026, 3, 3)), today=TODAY) == []
    assert len(track(store, TrackFilter(since=date(2026, 3, 2)), today=TODAY)) == 1


def test_track_refuses_bad_cuts_with_named_errors(store: Engine) -> None:
    with pytest.raises(InvalidAgencyCodeError):
        track(store, TrackFilter(under="vxp.saas.03"))
    with pytest.raises(InvalidCodeListError):
        track(store, TrackFilter(status="99"))


def test_track_orders_newest_first_and_limits(store: Engine) -> None:
    log = EventLog()
    for n in range(5):
        log.add(
            event(
                EventKind.SUBMITTED,
                f"{PROVINCE},2026/03/0{n + 1},{n}/VP",
                PROVINCE,
                recipients=[DEPARTMENTS[0]],
                at=T0 + timedelta(days=n),
            )
        )
    ingest(store, log.records, group=GROUP)
    found = track(store, TrackFilter(limit=3), today=TODAY)
    assert [d.document_id.split(",")[2] for d in found] == ["4/VP", "3/VP", "2/VP"]
    assert found[0].total == LevelCounts(None, recipients=1)  # listed, not yet delivered


# --- idempotence and positions ------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_ingest_is_the_same_whatever_the_batch_size(db_url: str, batch: int) -> None:
    upgrade(db_url)
    engine = create_store_engine(db_url)
    try:
        _scenario(engine, batch=batch)
        [doc] = track(engine, today=TODAY)
        assert doc.total.completed == 4
        assert document_trail(engine, DIRECTIVE).check.intact
        assert len(document_trail(engine, DIRECTIVE).entries) == 1 + 26 + 24 + 8 + 4 + 2
    finally:
        engine.dispose()


def test_replaying_the_same_records_changes_nothing(store: Engine) -> None:
    log = _scenario(store)
    before = _snapshot(store)
    again = ingest(store, log.records, group=GROUP)  # below the stored position
    assert (again.recorded, again.duplicates) == (0, len(log.records))
    other_group = ingest(store, log.records, group="another-group")  # event ids known
    assert (other_group.recorded, other_group.duplicates) == (0, len(log.records))
    assert _snapshot(store) == before


def test_positions_move_with_the_rows_they_cover(store: Engine) -> None:
    log = EventLog()
    log.add(*province_directive()[:10])
    result = ingest(store, log.records, group=GROUP)
    assert result.recorded == 10
    assert stored_positions(store, GROUP, "edx.events") == {0: 10}
    assert result.positions == {("edx.events", 0): 10}
    assert stored_positions(store, "nobody", "edx.events") == {}


def test_a_failed_batch_writes_nothing_not_even_its_position(store: Engine) -> None:
    log = EventLog()
    log.add(*province_directive()[:5])

    def names(agency: str) -> str | None:
        # The connection drops in the middle of the batch, after some rows were written.
        if agency == DEPARTMENTS[3]:
            raise OperationalError("SELECT name", {}, ConnectionError("server closed"))
        return "Sở" if agency == DEPARTMENTS[0] else None

    with pytest.raises(DatabaseUnavailableError) as caught:
        ingest(store, log.records, group=GROUP, names=names)
    assert caught.value.retriable
    assert stored_positions(store, GROUP, "edx.events") == {}
    with store.connect() as connection:
        for table in (documents, deliveries, history):
            assert connection.scalar(select(func.count()).select_from(table)) == 0
    ingest(store, log.records, group=GROUP, names=lambda a: "Sở" if a == DEPARTMENTS[0] else None)
    assert stored_positions(store, GROUP, "edx.events") == {0: 5}
    assert document_status(store, DIRECTIVE).recipients[0].name == "Sở"


# --- hash chain -------------------------------------------------------------------


def test_trail_is_ordered_and_its_chain_holds(store: Engine) -> None:
    _scenario(store)
    trail = document_trail(store, DIRECTIVE)
    assert trail.check.intact
    assert [e.sequence for e in trail.entries] == list(range(1, len(trail.entries) + 1))
    assert trail.entries[0].kind == "SUBMITTED"
    assert trail.entries[0].prev_hash == "0" * 64
    assert all(
        b.prev_hash == a.row_hash for a, b in zip(trail.entries, trail.entries[1:], strict=False)
    )
    assert (trail.entries[1].events_topic, trail.entries[1].events_offset) == ("edx.events", 1)


def test_altering_one_history_row_breaks_the_chain_there(store: Engine) -> None:
    _scenario(store)
    with store.begin() as connection:
        connection.execute(
            update(history)
            .where(history.c.document_id == DIRECTIVE, history.c.sequence == 40)
            .values(status_code="06")
        )
    check = document_trail(store, DIRECTIVE).check
    assert (check.intact, check.broken_at) == (False, 40)
    assert "hash" in check.why


def test_deleting_a_history_row_breaks_the_chain_there(store: Engine) -> None:
    _scenario(store)
    with store.begin() as connection:
        connection.execute(
            delete(history).where(history.c.document_id == DIRECTIVE, history.c.sequence == 12)
        )
    check = document_trail(store, DIRECTIVE).check
    assert (check.intact, check.broken_at) == (False, 13)


def test_new_rows_keep_chaining_after_earlier_batches(store: Engine) -> None:
    log = _scenario(store)
    log.add(
        event(
            EventKind.STATUS,
            DIRECTIVE,
            COMMUNES_L4[-1],
            recipient=PROVINCE,
            status_code=StatusCode.ARRIVED,
            at=T0 + timedelta(days=12),
        )
    )
    ingest(store, log.records[-1:], group=GROUP)
    trail = document_trail(store, DIRECTIVE)
    assert trail.check.intact
    assert trail.entries[-1].actor == COMMUNES_L4[-1]


# --- quarantine, take-back, rejection --------------------------------------------


def test_undecodable_records_are_quarantined_with_their_coordinates(store: Engine) -> None:
    log = EventLog()
    log.add(*province_directive()[:3])
    log.add_raw(b"not avro at all")
    log.add_raw(None)
    result = ingest(store, log.records, group=GROUP)
    assert (result.recorded, result.quarantined) == (3, 2)
    ingest(store, log.records, group="another-group")  # seen again: quarantined once
    with store.connect() as connection:
        rows = connection.execute(select(quarantine).order_by(quarantine.c.offset)).mappings().all()
    assert [(r["topic"], r["partition"], r["offset"]) for r in rows] == [
        ("edx.events", 0, 3),
        ("edx.events", 0, 4),
    ]
    assert rows[0]["record_value"] == b"not avro at all"
    assert rows[0]["reason_code"] == "event-decode-error"
    assert stored_positions(store, GROUP, "edx.events") == {0: 5}
    listed = quarantined_records(store)
    assert [(q.offset, q.reason_code, q.value) for q in listed] == [
        (3, "event-decode-error", b"not avro at all"),
        (4, "event-decode-error", None),
    ]


def test_take_back_and_rejection_are_recorded(store: Engine) -> None:
    log = EventLog()
    doc = f"{PROVINCE},2026/03/05,20/UBND"
    log.add(
        event(
            EventKind.SUBMITTED, doc, PROVINCE, recipients=RECIPIENTS[:2], due_date=date(2026, 3, 6)
        ),
        event(EventKind.DELIVERED, doc, PROVINCE, recipient=RECIPIENTS[0]),
        event(
            EventKind.STATUS,
            doc,
            PROVINCE,
            recipient=RECIPIENTS[0],
            status_code=StatusCode.TAKE_BACK,
            at=T0 + timedelta(hours=1),
        ),
        event(
            EventKind.STATUS,
            doc,
            RECIPIENTS[0],
            recipient=PROVINCE,
            status_code=StatusCode.CHANGE_AGREED,
            at=T0 + timedelta(hours=2),
        ),
        event(EventKind.REJECTED, "bad-doc", DEPARTMENTS[2], reason_code="signature-error"),
    )
    ingest(store, log.records, group=GROUP)
    status = document_status(store, doc, today=TODAY)
    first = status.recipients[0]
    assert (first.status, set(first.steps)) == ("15", {"13", "15"})
    assert status.taken_back_at == T0 + timedelta(hours=1)
    assert status.totals["overdue"] == 0  # taken back: nobody is late any more
    assert document_status(store, "bad-doc").rejected_reason == "signature-error"
    assert document_trail(store, "bad-doc").entries[0].reason_code == "signature-error"


# --- the SQL foundation every store opens its database through -------------------------


@pytest.mark.parametrize(("durable", "synchronous"), [(False, 1), (True, 2)])
def test_sqlite_files_are_opened_alike_durable_ones_sync_every_commit(
    tmp_path: Path, durable: bool, synchronous: int
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'a' / 'x.db'}", durable=durable)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == synchronous
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 10000
    finally:
        engine.dispose()


def test_a_private_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "secrets.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    create_store_engine(f"sqlite:///{path}", private=True).dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_database_errors_name_the_database_and_the_layer_may_choose_its_classes() -> None:
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    broken = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    with (
        pytest.raises(DatabaseUnavailableError, match="router store is unreachable"),
        database_errors("router store"),
    ):
        raise locked
    with (
        pytest.raises(DatabaseError, match=r"^router store: no such table") as caught,
        database_errors("router store"),
    ):
        raise broken
    assert not isinstance(caught.value, DatabaseUnavailableError)
    # An error already named by edxbus (the broker's) passes through unchanged.
    with pytest.raises(BrokerUnavailableError), database_errors("router store"):
        raise BrokerUnavailableError("broker gone")

    class LayerError(Exception):
        pass

    with (
        pytest.raises(LayerError, match="local store is unreachable"),
        database_errors("local store", error=LayerError, unavailable=LayerError),
    ):
        raise locked


def test_timestamps_are_utc_aware_in_and_out(tmp_path: Path) -> None:
    table = Table("t", MetaData(), Column("at", UtcDateTime))
    engine = create_store_engine(f"sqlite:///{tmp_path / 't.db'}")
    try:
        table.metadata.create_all(engine)
        local = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=7)))
        with engine.begin() as connection:
            connection.execute(insert(table).values(at=local))
            with pytest.raises(StatementError, match="naive datetime"):
                connection.execute(insert(table).values(at=datetime(2026, 11, 23)))
        with engine.connect() as connection:
            stored = connection.execute(select(table.c.at)).scalar_one()
        assert stored == local
        assert stored.tzinfo == UTC
    finally:
        engine.dispose()
