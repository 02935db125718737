"""Trusted times: edx.submit and edx.events ask for broker time, and what the broker does
is detected, not assumed (Tansu reports LogAppendTime but keeps producers' times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import TopicPartition

from bus import Settings, ensure_topics, make_consumer, make_producer
from bus.kafka import started
from bus.topics import (
    LOG_APPEND_TIME,
    broker_applies_log_append_time,
    broker_time,
    describe_topic_configs,
    topic_specs,
)


def test_the_evidence_topics_ask_for_broker_time() -> None:
    settings = Settings()
    specs = {spec.name: spec for spec in topic_specs(settings)}
    for name in (settings.topics.submit, settings.topics.events):
        assert specs[name].configs["message.timestamp.type"] == "LogAppendTime"
    assert "message.timestamp.type" not in specs[settings.topics.agencies].configs


def test_only_a_broker_set_time_is_evidence() -> None:
    assert broker_time(1_700_000_000_000, LOG_APPEND_TIME) == datetime(
        2023, 11, 14, 22, 13, 20, tzinfo=UTC
    )
    assert broker_time(1_700_000_000_000, 0) is None  # CreateTime: the producer's say-so


@pytest.mark.kafka
async def test_the_probe_tells_what_readers_of_edx_submit_will_see(
    bus_settings: Settings,
) -> None:
    await ensure_topics(bus_settings)
    configs = await describe_topic_configs(bus_settings, bus_settings.topics.submit)
    if configs:  # a broker that can describe configs reports what we asked for
        assert configs.get("message.timestamp.type") == "LogAppendTime"
    applies = await broker_applies_log_append_time(bus_settings)
    async with started(make_producer(bus_settings)) as producer:
        sent = await producer.send_and_wait(
            bus_settings.topics.submit, b"dated 1970", timestamp_ms=1_000
        )
    tp = TopicPartition(bus_settings.topics.submit, sent.partition)
    async with started(make_consumer(bus_settings)) as consumer:
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
    (record,) = [r for r in batch[tp] if r.offset == sent.offset]
    seen = broker_time(record.timestamp, record.timestamp_type)
    if applies:
        assert seen is not None
        assert abs(seen - datetime.now(UTC)) < timedelta(minutes=10)
    else:
        assert seen is None
        assert record.timestamp == 1_000  # the producer's claim, and known to be one
