"""Broker access: client options from settings, error translation, feature probing."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from aiokafka import errors as kafka_errors

from bus.errors import BrokerError, BrokerUnavailableError, ConfigError, TopicError
from bus.kafka import (
    BACKGROUND_FETCH_WAIT_MS,
    background_fetch_wait_ms,
    connection_options,
    make_consumer,
    make_producer,
    probe_features,
    rewind_lost_partitions,
    started,
    translate_errors,
)
from bus.settings import Settings


def test_plaintext_options() -> None:
    options = connection_options(Settings.of(bootstrap="a:1,b:2"))
    assert options == {"bootstrap_servers": "a:1,b:2", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_options(tmp_path: Path) -> None:
    settings = Settings.of(
        security_protocol="sasl_ssl",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="router",
        sasl_password="secret",
    )
    options = connection_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "router"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sasl_username"):
        connection_options(Settings.of(security_protocol="SASL_PLAINTEXT"))


def test_unknown_protocol_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="security_protocol"):
        connection_options(Settings.of(security_protocol="CARRIER_PIGEON"))


def test_unreadable_tls_file_is_a_config_error(tmp_path: Path) -> None:
    settings = Settings.of(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="TLS"):
        connection_options(settings)


async def test_producer_waits_for_all_replicas_and_is_not_idempotent_unprobed() -> None:
    producer = make_producer(Settings.of(bootstrap="127.0.0.1:1"))
    try:
        assert producer._sender._acks == -1  # acks="all"
        assert producer._txn_manager is None  # idempotence only once probed
        assert producer._max_request_size > Settings().packages.max_package_bytes
    finally:
        await producer.stop()


async def test_consumer_never_autocommits() -> None:
    consumer = make_consumer(Settings.of(bootstrap="127.0.0.1:1"), "x", group_id="g")
    try:
        assert consumer._enable_auto_commit is False
        assert consumer._group_id == "g"
    finally:
        await consumer.stop()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (kafka_errors.KafkaConnectionError("down"), BrokerUnavailableError),
        (kafka_errors.KafkaTimeoutError(), BrokerUnavailableError),
        (kafka_errors.UnknownTopicOrPartitionError(), TopicError),
        (kafka_errors.CommitFailedError("lost"), BrokerError),
    ],
)
def test_driver_errors_are_translated(raised: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected) as caught, translate_errors("testing"):
        raise raised
    assert caught.value.__cause__ is raised
    assert "testing" in str(caught.value)


def test_unavailable_is_retriable() -> None:
    with pytest.raises(BrokerUnavailableError) as caught, translate_errors():
        raise kafka_errors.NodeNotReadyError()
    assert caught.value.retriable is True


async def test_unreachable_broker_is_unavailable() -> None:
    settings = Settings.of(bootstrap="127.0.0.1:1")
    producer = make_producer(settings, request_timeout_ms=1000)
    with pytest.raises(BrokerUnavailableError):
        async with started(producer):
            pass


@pytest.mark.kafka
async def test_probe_and_round_trip(bus_settings: Settings, unique_topic) -> None:  # type: ignore[no-untyped-def]
    features = await probe_features(bus_settings)
    assert await probe_features(bus_settings) is features  # remembered
    topic = unique_topic("roundtrip")
    async with started(make_producer(bus_settings)) as producer:
        await producer.send_and_wait(topic, b"payload", key=b"k", headers=[("h", b"v")])
    consumer = make_consumer(bus_settings, topic, group_id=None)
    async with started(consumer):
        batch = await consumer.getmany(timeout_ms=10_000)
    records = [r for rs in batch.values() for r in rs]
    assert [(r.key, r.value, list(r.headers)) for r in records] == [
        (b"k", b"payload", [("h", b"v")])
    ]


def test_our_own_errors_pass_through_untouched() -> None:
    from bus.errors import DatabaseUnavailableError

    original = DatabaseUnavailableError("store down")
    with pytest.raises(DatabaseUnavailableError) as caught, translate_errors():
        raise original
    assert caught.value is original


@pytest.mark.kafka
async def test_probe_keeps_the_expected_no_out_of_the_logs(
    bus_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bus.kafka

    monkeypatch.setattr(bus.kafka, "_features", {})  # probe afresh, not from memory
    with caplog.at_level("DEBUG", logger="aiokafka"):
        await probe_features(bus_settings)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors == []
    assert logging.getLogger("aiokafka.producer.sender").level == logging.NOTSET


def test_group_timing_follows_the_broker_and_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bus.kafka
    from bus.kafka import SHORT_SESSION_MS, BrokerFeatures, group_timing

    settings = Settings.of(bootstrap="broker:9092")
    monkeypatch.setattr(bus.kafka, "_features", {})
    assert group_timing(settings)["session_timeout_ms"] == 6000  # not probed: Kafka's least
    bus.kafka._features["broker:9092"] = BrokerFeatures(False, min_session_timeout_ms=None)
    assert group_timing(settings) == {
        "session_timeout_ms": SHORT_SESSION_MS,
        "heartbeat_interval_ms": SHORT_SESSION_MS // 6,
    }
    bus.kafka._features["broker:9092"] = BrokerFeatures(True, min_session_timeout_ms=4500)
    assert group_timing(settings)["session_timeout_ms"] == 4500
    chosen = settings.with_overrides(group_session_timeout_ms="8000", group_instance_id="r-1")
    assert group_timing(chosen) == {
        "session_timeout_ms": 8000,
        "heartbeat_interval_ms": 1333,
        "group_instance_id": "r-1",
    }


async def _read_all(consumer, expected: int) -> list[bytes]:  # type: ignore[no-untyped-def]
    values: list[bytes] = []
    for _ in range(40):
        batch = await consumer.getmany(timeout_ms=250)
        values += [r.value for rs in batch.values() for r in rs]
        if len(values) >= expected:
            break
    return values


@pytest.mark.kafka
async def test_a_position_past_the_end_is_read_again_from_the_start(
    bus_settings: Settings, unique_topic
) -> None:  # type: ignore[no-untyped-def]
    """A group whose committed offset belongs to a log the broker lost (Tansu answers a
    fetch past the end with nothing, never OFFSET_OUT_OF_RANGE) reads the new log."""
    from aiokafka import TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    topic = unique_topic("lost")
    tp = TopicPartition(topic, 0)
    async with started(make_producer(bus_settings)) as producer:
        for n in range(3):
            await producer.send_and_wait(topic, b"new-%d" % n, partition=0)
    group = f"{topic}.group"
    old = make_consumer(bus_settings, group_id=group)
    async with started(old):
        old.assign([tp])
        await old.commit({tp: OffsetAndMetadata(100, "")})  # the old log's position
    consumer = make_consumer(bus_settings, topic, group_id=group)
    async with started(consumer):
        assert await _read_all(consumer, 1) == []  # stuck past the end
        assert await consumer.position(tp) == 100
        assert await rewind_lost_partitions(consumer) == [tp]
        assert await _read_all(consumer, 3) == [b"new-0", b"new-1", b"new-2"]
        assert await rewind_lost_partitions(consumer) == []


@pytest.mark.kafka
async def test_a_position_at_the_end_of_a_batch_is_not_taken_for_a_loss(
    bus_settings: Settings, unique_topic
) -> None:  # type: ignore[no-untyped-def]
    """Tansu's watermark can name the start of the last batch: a reader at the true end
    after a batch of several records has lost nothing and is left where it is."""
    topic = unique_topic("batch")
    async with started(make_producer(bus_settings, linger_ms=200)) as producer:
        sent = [await producer.send(topic, b"r-%d" % n, partition=0) for n in range(5)]
        for future in sent:
            await future
    consumer = make_consumer(bus_settings, topic, group_id=f"{topic}.group")
    async with started(consumer):
        assert len(await _read_all(consumer, 5)) == 5
        assert await rewind_lost_partitions(consumer) == []
        assert len(await _read_all(consumer, 1)) == 0


@pytest.mark.parametrize(("configured", "expected"), [(10, BACKGROUND_FETCH_WAIT_MS), (500, 500)])
def test_readers_nothing_waits_on_wait_at_least_the_background_wait(
    configured: int, expected: int
) -> None:
    """The tracker, the log and the directory followers never poll at the router's 10 ms,
    and a longer configured wait (Apache Kafka's 500) is theirs too."""
    settings = Settings.of(bootstrap="127.0.0.1:9", fetch_max_wait_ms=configured)
    assert background_fetch_wait_ms(settings) == expected
