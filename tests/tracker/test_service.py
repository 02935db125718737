"""The tracker service against a real broker and real databases: it records every
event once, survives its own restart and its database going away, and quarantines
what does not decode."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bus.lifecycle import EventKind
from bus.settings import Settings
from bus.store import (
    IncomingRecord,
    create_store_engine,
    document_status,
    document_trail,
    ingest,
    track,
    upgrade,
)
from bus.topics import ensure_topics
from tests.kafka_reading import read_topic
from tests.service_processes import start_service
from tests.tracker.factory import DIRECTIVE, TODAY, province_directive
from tests.tracker.kafka_helpers import (
    count_rows,
    produce,
    quarantine,
    running_tracker,
    tracker_environment,
    wait_for,
)
from tests.tracker.tcp_proxy import TcpProxy

pytestmark = pytest.mark.kafka

EXPECTED_TOTALS = {"delivered": 2, "01": 14, "02": 2, "03": 4, "06": 4, "overdue": 20}


@pytest.fixture
def settings(bus_settings: Settings, db_url: str) -> Settings:
    return bus_settings.with_values(db_url=db_url)


@pytest.fixture
def reader(store: Engine) -> Engine:
    """A direct connection to the tracker's database (the settings' own), for the checks."""
    return store


def _assert_scenario_recorded_once(reader: Engine, events: int) -> None:
    assert count_rows(reader) == events
    assert document_status(reader, DIRECTIVE, today=TODAY).totals == EXPECTED_TOTALS
    [doc] = track(reader, today=TODAY)
    assert (doc.total.recipients, doc.total.completed, doc.total.overdue) == (26, 4, 20)
    assert document_trail(reader, DIRECTIVE).check.intact


async def test_tracker_records_the_events_of_the_bus(settings: Settings, reader: Engine) -> None:
    await ensure_topics(settings)
    events = province_directive()
    async with running_tracker(settings) as tracker:
        await produce(settings, events)
        await wait_for(lambda: count_rows(reader) == len(events), what="all events recorded")
    _assert_scenario_recorded_once(reader, len(events))
    assert tracker.stats.recorded == len(events)
    trail = document_trail(reader, DIRECTIVE)
    assert {e.events_topic for e in trail.entries} == {settings.topics.events}


async def test_stopped_tracker_resumes_without_loss_or_double_counting(
    settings: Settings, reader: Engine
) -> None:
    await ensure_topics(settings)
    events = province_directive()
    half = len(events) // 2
    async with running_tracker(settings):
        await produce(settings, events[:half])
        await wait_for(lambda: count_rows(reader) == half, what="first half recorded")
    # The router keeps working while the tracker is down.
    await produce(settings, events[half:])
    async with running_tracker(settings) as again:
        await wait_for(lambda: count_rows(reader) == len(events), what="second half recorded")
    assert (again.stats.recorded, again.stats.duplicates) == (len(events) - half, 0)
    _assert_scenario_recorded_once(reader, len(events))


async def test_positions_in_the_database_win_over_kafka_commits(
    settings: Settings, reader: Engine
) -> None:
    """A crash after the database commit but before the Kafka commit re-reads nothing."""
    await ensure_topics(settings)
    events = province_directive()
    await produce(settings, events)
    # Record the first 15 straight into the database, as if the tracker had done so and
    # died before committing to Kafka (Kafka has no committed offset for the group).
    records = await _read_back(settings, len(events))
    first = [r for r in records if r.offset < 15]
    ingest(reader, first, group=settings.groups.tracker)
    async with running_tracker(settings) as tracker:
        await wait_for(lambda: count_rows(reader) == len(events), what="the rest recorded")
    # Whatever it re-read (it seeks to the stored positions, but a fetch may race the
    # seek), it recorded exactly the records the database did not hold yet.
    assert tracker.stats.recorded == len(events) - 15
    _assert_scenario_recorded_once(reader, len(events))


async def _read_back(settings: Settings, expected: int) -> list[IncomingRecord]:
    records = await read_topic(settings, settings.topics.events)
    assert len(records) == expected, f"{len(records)} of {expected} events read back"
    return [IncomingRecord(r.topic, r.partition, r.offset, r.key, r.value) for r in records]


async def test_undecodable_events_are_quarantined_and_the_rest_recorded(
    settings: Settings, reader: Engine
) -> None:
    await ensure_topics(settings)
    events = province_directive()
    async with running_tracker(settings) as tracker:
        await produce(settings, events, raw=[b"\x00garbage", b"\xc3\x01short"])
        await wait_for(lambda: count_rows(reader, quarantine) == 2, what="quarantine")
        await wait_for(lambda: count_rows(reader) == len(events), what="events recorded")
    assert tracker.stats.quarantined == 2
    _assert_scenario_recorded_once(reader, len(events))


@pytest.mark.postgres
@pytest.mark.slow
async def test_database_going_away_under_load_loses_nothing(
    bus_settings: Settings, postgres_url: str
) -> None:
    """The tracker's PostgreSQL connection is cut mid-stream, then comes back."""
    server = make_url(postgres_url)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
    await proxy.restore()
    through_proxy = server.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    settings = bus_settings.with_values(db_url=through_proxy)
    upgrade(postgres_url)
    direct = create_store_engine(postgres_url)
    await ensure_topics(settings)
    events = province_directive()
    try:
        async with running_tracker(settings) as tracker:
            await produce(settings, events[:20])
            await wait_for(lambda: count_rows(direct) == 20, what="first events")
            await proxy.cut()
            await produce(settings, events[20:])
            await wait_for(lambda: tracker.stats.database_retries >= 2, what="retries")
            assert count_rows(direct) == 20
            await proxy.restore()
            await wait_for(lambda: count_rows(direct) == len(events), what="all events")
        _assert_scenario_recorded_once(direct, len(events))
    finally:
        await proxy.cut()
        direct.dispose()


@pytest.mark.slow
async def test_python_m_bus_tracker_runs_until_sigterm(
    bus_settings: Settings, sqlite_url: str
) -> None:
    """The service entry point: settings from the environment, a clean stop on SIGTERM."""
    import asyncio
    import signal

    settings = bus_settings.with_values(db_url=sqlite_url)
    await ensure_topics(settings)
    upgrade(sqlite_url)  # before the process starts: two first migrations must not race
    process = await start_service("bus.tracker", tracker_environment(settings))
    try:
        events = province_directive()
        await produce(settings, events)
        reader = create_store_engine(sqlite_url)
        try:
            await wait_for(
                lambda: count_rows(reader) == len(events),
                within=90,
                what="the tracker process to record every event",
            )
            assert document_status(reader, DIRECTIVE, today=TODAY).totals == EXPECTED_TOTALS
        finally:
            reader.dispose()
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.postgres
async def test_a_record_the_database_refuses_is_quarantined_alone(
    bus_settings: Settings, postgres_url: str
) -> None:
    """PostgreSQL refuses a 300-character document id: that record is set aside with its
    coordinates, every other record of its batch is recorded."""
    from tests.tracker.factory import event

    settings = bus_settings.with_values(db_url=postgres_url)
    await ensure_topics(settings)
    upgrade(postgres_url)
    reader = create_store_engine(postgres_url)
    events = province_directive()
    too_long = event(EventKind.SUBMITTED, "X" * 300, "000.00.00.H41", recipients=["000.00.01.H41"])
    try:
        async with running_tracker(settings) as tracker:
            await produce(settings, [*events[:10], too_long, *events[10:]])
            await wait_for(lambda: count_rows(reader) == len(events), what="events recorded")
            await wait_for(lambda: count_rows(reader, quarantine) == 1, what="quarantine")
        _assert_scenario_recorded_once(reader, len(events))
        with reader.connect() as connection:
            row = connection.execute(quarantine.select()).mappings().one()
        assert row["reason_code"] == "database-error"
        assert row["topic"] == settings.topics.events
        assert row["record_value"] is not None
        assert tracker.stats.quarantined == 1
    finally:
        reader.dispose()
