"""Broker access: aiokafka producers, consumers and admin clients built from :class:`Settings`.

Every client of edxbus is made here, so security (PLAINTEXT for the embedded
default, SASL and TLS in production), acks and commit policy are decided in one
place. Driver errors are translated at this boundary by :func:`translate_errors`:
nothing above ``bus`` ever sees an aiokafka exception.

Brokers differ: the end of a partition that Tansu lists (ListOffsets "latest") is
the first offset of its last record batch plus one, not the offset after its last
record; :func:`partition_ends` reads the true end (the fetch's high watermark).
Tansu, the embedded default, refuses idempotent producers
(InitProducerId fails). :func:`probe_features` asks the broker once and remembers
the answer per bootstrap address; :func:`make_producer` enables idempotence only
where the broker is known to support it, and stays at ``acks="all"`` either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import TopicPartition

from bus.errors import BrokerError, BrokerUnavailableError, ConfigError, TopicError
from bus.logs import get_logger
from bus.settings import Settings
from edxml.errors import EdxbusError

__all__ = [
    "BrokerFeatures",
    "LostPartitionWatch",
    "background_fetch_wait_ms",
    "connection_options",
    "gather_records",
    "group_timing",
    "make_admin",
    "make_consumer",
    "make_producer",
    "partition_ends",
    "probe_features",
    "rewind_lost_partitions",
    "started",
    "translate_errors",
]

_log = get_logger(__name__)

_SECURITY_PROTOCOLS = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
_SASL_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"})

#: aiokafka errors meaning "the broker cannot be reached right now".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorError,
    kafka_errors.KafkaUnavailableError,
)
_TOPIC: tuple[type[BaseException], ...] = (
    kafka_errors.UnknownTopicOrPartitionError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.InvalidPartitionsError,
    kafka_errors.InvalidReplicationFactorError,
)


#: The group session a member asks for when the broker allows it: a member killed
#: without leaving the group holds its partitions this long at most.
SHORT_SESSION_MS = 3000
#: Kafka refuses sessions shorter than its ``group.min.session.timeout.ms`` (6 s
#: unless its operator changed it): assumed wherever the broker cannot be asked.
_KAFKA_MIN_SESSION_MS = 6000


@dataclass(frozen=True)
class BrokerFeatures:
    """What one broker supports, as probed (DESIGN.md §7: feature-detect, never assume)."""

    idempotent_producer: bool
    #: The shortest group session the broker accepts (``group.min.session.timeout.ms``);
    #: None when it enforces none (Tansu).
    min_session_timeout_ms: int | None = _KAFKA_MIN_SESSION_MS


_features: dict[str, BrokerFeatures] = {}


@contextlib.contextmanager
def translate_errors(action: str = "talking to the broker") -> Iterator[None]:
    """Turn aiokafka errors raised inside the block into :mod:`bus.errors`.

    Unreachable brokers and timeouts become the retriable
    :class:`BrokerUnavailableError`, topic problems :class:`TopicError`,
    everything else from the driver :class:`BrokerError`.
    """
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BrokerUnavailableError(f"broker unavailable while {action}: {exc}") from exc
    except _TOPIC as exc:
        raise TopicError(f"topic error while {action}: {exc}") from exc
    except kafka_errors.KafkaError as exc:
        error = BrokerError(f"broker error while {action}: {exc}")
        error.retriable = bool(getattr(exc, "retriable", False))
        raise error from exc
    except (TimeoutError, ConnectionError) as exc:
        if isinstance(exc, EdxbusError):  # already one of ours (e.g. a database outage)
            raise
        raise BrokerUnavailableError(f"broker unavailable while {action}: {exc}") from exc


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.broker.security_protocol.upper():
        return None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(settings.broker.ssl_cafile) if settings.broker.ssl_cafile else None,
            certfile=str(settings.broker.ssl_certfile) if settings.broker.ssl_certfile else None,
            keyfile=str(settings.broker.ssl_keyfile) if settings.broker.ssl_keyfile else None,
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS files cannot be loaded: {exc}") from exc
    return context


def connection_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every aiokafka client takes: servers and security."""
    protocol = settings.broker.security_protocol.upper()
    if protocol not in _SECURITY_PROTOCOLS:
        raise ConfigError(
            f"security_protocol {settings.broker.security_protocol!r} is not one of "
            f"{', '.join(sorted(_SECURITY_PROTOCOLS))}"
        )
    options: dict[str, Any] = {
        "bootstrap_servers": settings.broker.bootstrap,
        "security_protocol": protocol,
    }
    context = _ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        mechanism = (settings.broker.sasl_mechanism or "PLAIN").upper()
        if mechanism not in _SASL_MECHANISMS:
            raise ConfigError(f"sasl_mechanism {settings.broker.sasl_mechanism!r} is not supported")
        if mechanism in {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} and not (
            settings.broker.sasl_username and settings.broker.sasl_password
        ):
            raise ConfigError(f"SASL {mechanism} needs sasl_username and sasl_password")
        options["sasl_mechanism"] = mechanism
        options["sasl_plain_username"] = settings.broker.sasl_username
        options["sasl_plain_password"] = settings.broker.sasl_password
    return options


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A producer (not started) that waits for all in-sync replicas (``acks="all"``).

    Idempotence is on only when :func:`probe_features` found the broker supports
    it; ``overrides`` win over every default. It sends at once (``linger_ms`` 0):
    awaiting an acknowledgement does not cut a linger short, so each small batch
    would wait it out, and aiokafka still groups what is queued while a request
    is in flight.
    """
    known = _features.get(settings.broker.bootstrap)
    options: dict[str, Any] = {
        **connection_options(settings),
        "acks": "all",
        "enable_idempotence": bool(known and known.idempotent_producer),
        "max_request_size": max(settings.packages.max_package_bytes + 64 * 1024, 1_048_576),
        "linger_ms": 0,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


#: The least fetch wait of readers nothing waits on (the tracker, the transparency
#: log, directory followers). On a broker that holds an empty fetch to the end of
#: its wait (the embedded one does), a reader at the 10 ms a router needs asks a
#: hundred times a second while the bus is idle, and the broker answers each time.
BACKGROUND_FETCH_WAIT_MS = 250


def background_fetch_wait_ms(settings: Settings) -> int:
    """The fetch wait of a reader nothing waits on: the configured one, at least
    :data:`BACKGROUND_FETCH_WAIT_MS` (a broker with records ready answers at once)."""
    return max(settings.broker.fetch_max_wait_ms, BACKGROUND_FETCH_WAIT_MS)


def make_consumer(
    settings: Settings, *topics: str, group_id: str | None = None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer (not started) that never commits on its own: callers commit after acks."""
    options: dict[str, Any] = {
        **connection_options(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_bytes": max(settings.packages.max_package_bytes + 64 * 1024, 52_428_800),
        "max_partition_fetch_bytes": max(
            settings.packages.max_package_bytes + 64 * 1024, 1_048_576
        ),
        # A lone record is not held at the broker for long, and a reader that looks
        # up one record (the router checking an inbox copy) does not wait aiokafka's
        # 500 ms default at an offset the broker has nothing for yet.
        "fetch_max_wait_ms": settings.broker.fetch_max_wait_ms,
    }
    if group_id is not None:
        options.update(group_timing(settings))
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def group_timing(settings: Settings) -> dict[str, Any]:
    """Session, heartbeat and static membership of a group member.

    A member killed with SIGKILL never leaves its group: the group waits a whole
    session for it before its partitions move (to the others, or to the same
    service restarted), so the session bounds the time back to work. aiokafka's
    10 s default made a restart take about 20 s. The session is
    ``settings.groups.session_timeout_ms`` when set, else the shortest the broker
    accepts (probed by :func:`probe_features`; Kafka's usual 6 s until probed)
    but no less than :data:`SHORT_SESSION_MS`; heartbeats go six times a session.
    ``settings.groups.instance_id`` turns on static membership, where a restarted
    member takes its partitions back at once.
    """
    session = settings.groups.session_timeout_ms
    if session is None:
        known = _features.get(settings.broker.bootstrap)
        least = _KAFKA_MIN_SESSION_MS if known is None else known.min_session_timeout_ms
        session = max(SHORT_SESSION_MS, least or 0)
    options: dict[str, Any] = {
        "session_timeout_ms": session,
        "heartbeat_interval_ms": max(100, session // 6),
    }
    if settings.groups.instance_id:
        options["group_instance_id"] = settings.groups.instance_id
    return options


def make_admin(settings: Settings, **overrides: Any) -> AIOKafkaAdminClient:
    """An admin client (not started) for topic administration."""
    options: dict[str, Any] = {**connection_options(settings), **overrides}
    return AIOKafkaAdminClient(**options)


@contextlib.asynccontextmanager
async def started(client: Any, action: str = "connecting to the broker") -> AsyncIterator[Any]:
    """Start an aiokafka client, yield it, and always stop (or close) it.

    A client whose start fails is stopped too, so no connection outlives the error.
    """
    try:
        with translate_errors(action):
            await client.start()
        yield client
    finally:
        await _close(client)


async def _close(client: Any) -> None:
    closer = getattr(client, "stop", None) or client.close
    with contextlib.suppress(kafka_errors.KafkaError, OSError):
        await closer()


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Silence one library logger below CRITICAL for the duration of a block."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def probe_features(settings: Settings, *, wait_seconds: float = 10.0) -> BrokerFeatures:
    """Ask the broker what it supports, once per bootstrap address.

    The only probe so far: does ``InitProducerId`` work (an idempotent producer
    starts)? Kafka says yes, Tansu no. An unreachable broker raises
    :class:`BrokerUnavailableError` and nothing is remembered.
    """
    cached = _features.get(settings.broker.bootstrap)
    if cached is not None:
        return cached
    producer = make_producer(settings, enable_idempotence=True)
    supported = True
    try:
        # A broker without InitProducerId makes aiokafka log an ERROR; here that
        # answer is the expected "no", so the probe keeps it out of operators' logs.
        with _quiet_logger("aiokafka.producer.sender"):
            await asyncio.wait_for(producer.start(), wait_seconds)
    except (
        kafka_errors.UnknownError,
        kafka_errors.UnsupportedVersionError,
        kafka_errors.ClusterAuthorizationFailedError,
    ):
        supported = False
    except _UNAVAILABLE as exc:
        raise BrokerUnavailableError(
            f"broker {settings.broker.bootstrap} unavailable: {exc}"
        ) from exc
    except (TimeoutError, kafka_errors.KafkaError) as exc:
        raise BrokerUnavailableError(
            f"broker {settings.broker.bootstrap} did not answer the feature probe: {exc}"
        ) from exc
    finally:
        await _close(producer)
    least = await _min_session_timeout(settings, supported, wait_seconds)
    features = BrokerFeatures(idempotent_producer=supported, min_session_timeout_ms=least)
    _features[settings.broker.bootstrap] = features
    return features


#: How long :func:`partition_ends` waits for the fetch that reads a partition's end.
_END_FETCH_SECONDS = 5.0


async def partition_ends(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The true end of each partition: the offset after its last record.

    ``end_offsets`` alone is not enough: Tansu lists the first offset of the last
    record batch plus one, so a reader that stops there misses the rest of that
    batch. This lists the ends, then fetches from just before each listed end;
    a fetch returns the whole last batch and the high watermark, and the end is
    the larger of what was listed, the watermark and the last offset read plus one.
    On Kafka the listed end is already exact and the fetch merely confirms it.

    ``partitions`` must be assigned to ``consumer`` (manual assignment); their
    positions are put back where they were, so a reader can ask mid-way.
    """
    listed = await consumer.end_offsets(partitions)
    ends = dict(listed)
    holding = [tp for tp in partitions if listed[tp] > 0]  # 0: never written to
    if not holding:
        return ends
    begins = await consumer.beginning_offsets(holding)
    probe = [tp for tp in holding if listed[tp] > begins[tp]]
    if not probe:
        return ends
    positions = {tp: await consumer.position(tp) for tp in probe}
    loop = asyncio.get_running_loop()
    try:
        for tp in probe:
            consumer.seek(tp, listed[tp] - 1)
        waiting = set(probe)
        deadline = loop.time() + _END_FETCH_SECONDS
        while waiting and loop.time() < deadline:
            batch = await consumer.getmany(*waiting, timeout_ms=500)
            for tp, records in batch.items():
                if not records:
                    continue
                # The watermark is fresh now: it came with these records.
                ends[tp] = max(ends[tp], records[-1].offset + 1, consumer.highwater(tp) or 0)
                waiting.discard(tp)
    finally:
        for tp, position in positions.items():
            consumer.seek(tp, position)
    return ends


async def rewind_lost_partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Send back to their start the assigned partitions whose position lies past their end.

    A position past the end means the broker lost the partition's records (the
    embedded Tansu keeps memory only; a topic deleted and created again) while
    this consumer kept reading, or committed, an offset of the old log. Kafka
    answers such a fetch with OFFSET_OUT_OF_RANGE and the consumer's reset
    policy applies; Tansu answers with nothing at all, so the consumer would wait
    until the new log grew past the old position, and skip everything below it.
    Readers call this when a fetch brought nothing: the watermark the fetches
    reported picks the suspects, :func:`partition_ends` confirms them (Tansu's
    watermark can lag the true end by a batch), and the confirmed ones are read
    again from their start. Every reader of the bus keeps a record of what it
    handled (the router's acceptance store, the tracker's event ids), so reading
    again repeats nothing. Returns the partitions sent back.
    """
    suspects: dict[TopicPartition, int] = {}
    for tp in consumer.assignment():
        watermark = consumer.highwater(tp)
        if watermark is None:
            continue  # no fetch answered yet
        position = await consumer.position(tp)
        if position > watermark:
            suspects[tp] = position
    if not suspects:
        return []
    ends = await partition_ends(consumer, list(suspects))
    lost = [tp for tp, position in suspects.items() if position > ends.get(tp, position)]
    if lost:
        await consumer.seek_to_beginning(*lost)
    return lost


class LostPartitionWatch:
    """:func:`rewind_lost_partitions` for one service's consumer, at most every ``every`` s.

    A service calls :meth:`look` after each fetch that brought nothing; the look is
    paced so a quiet service does not ask the broker for its ends on every poll,
    and a partition sent back is logged once, naming ``topic``.
    """

    def __init__(self, topic: str, *, every: float = 2.0) -> None:
        self.topic = topic
        self.every = every
        self._next = 0.0

    async def look(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """The partitions sent back to their start this time (none when not due)."""
        now = time.monotonic()
        if now < self._next:
            return []
        self._next = now + self.every
        with translate_errors(f"reading the ends of {self.topic}"):
            lost = await rewind_lost_partitions(consumer)
        if lost:
            _log.warning(
                f"the broker lost {self.topic} partitions: reading them again from their start",
                partitions=",".join(str(tp.partition) for tp in lost),
            )
        return lost


_MIN_SESSION_CONFIG = "group.min.session.timeout.ms"


async def _min_session_timeout(
    settings: Settings, idempotent_producer: bool, wait_seconds: float
) -> int | None:
    """The broker's ``group.min.session.timeout.ms``, asked with DescribeConfigs.

    Kafka answers (or refuses for want of rights: then its default is assumed).
    Tansu refuses InitProducerId, drops the connection on DescribeConfigs and
    enforces no minimum: a broker without InitProducerId is not asked (a dropped
    connection leaves the broker's port in TIME_WAIT, which a restarted embedded
    bus would take for a port in use) and is taken to enforce none.
    """
    if not idempotent_producer:
        return None
    admin = make_admin(settings)
    try:
        with _quiet_logger("aiokafka"):
            await asyncio.wait_for(admin.start(), wait_seconds)
            metadata = await asyncio.wait_for(admin._client.fetch_all_metadata(), wait_seconds)
            brokers = sorted(b.nodeId for b in metadata.brokers())
            if not brokers:
                raise kafka_errors.BrokerNotAvailableError()
            resource = ConfigResource(
                ConfigResourceType.BROKER, str(brokers[0]), {_MIN_SESSION_CONFIG: None}
            )
            responses = await asyncio.wait_for(admin.describe_configs([resource]), wait_seconds)
        for response in responses:
            for entry in response.resources:
                for config in entry[4]:
                    if config[0] == _MIN_SESSION_CONFIG and config[1]:
                        return int(config[1])
        return _KAFKA_MIN_SESSION_MS
    except (TimeoutError, kafka_errors.KafkaError, ValueError, IndexError, TypeError):
        return _KAFKA_MIN_SESSION_MS
    finally:
        await _close(admin)


async def gather_records(
    consumer: AIOKafkaConsumer,
    *,
    poll_ms: int,
    max_records: int,
    gather_seconds: float,
    stop: asyncio.Event | None = None,
) -> dict[TopicPartition, list[Any]]:
    """One batch for a consumer that records what it reads in one transaction a batch.

    What the first fetch brings (waiting up to ``poll_ms``), then more for
    ``gather_seconds``, never over ``max_records``; records of a partition stay in
    the order the consumer handed them out. A broker that answers a fetch with about
    one producer batch (the embedded one does) would otherwise make every few
    records pay a whole transaction: for readers nothing waits on (the tracker, the
    transparency log), a fraction of a second later is worth far fewer transactions.
    ``stop`` ends the gathering early.
    """
    fetched: dict[TopicPartition, list[Any]] = await consumer.getmany(
        timeout_ms=poll_ms, max_records=max_records
    )
    count = sum(len(messages) for messages in fetched.values())
    if not count or gather_seconds <= 0:
        return fetched
    loop = asyncio.get_running_loop()
    deadline = loop.time() + gather_seconds
    while count < max_records and not (stop is not None and stop.is_set()):
        left_ms = int((deadline - loop.time()) * 1000)
        if left_ms <= 0:
            break
        more = await consumer.getmany(timeout_ms=left_ms, max_records=max_records - count)
        for partition, messages in more.items():
            fetched.setdefault(partition, []).extend(messages)
            count += len(messages)
    return fetched
