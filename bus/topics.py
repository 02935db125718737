"""Topic administration: the topics of DESIGN.md §3, created idempotently.

Every topic keeps its records forever (``retention.ms=-1``): ``edx.submit`` is the
record of what was sent, inboxes and events are what auditors replay.
``edx.submit`` and ``edx.events`` ask for broker time
(``message.timestamp.type=LogAppendTime``): their record times are evidence, and a
producer must not choose them. Whether the broker applies it is detected, not
assumed: Tansu accepts and reports the config but keeps the producer's time, so
:func:`broker_applies_log_append_time` writes one probe record and reads its time
back; readers take a record's time as evidence only when :func:`broker_time` says
the broker set it.
``edx.agencies`` is compacted: the newest record per agency code is the directory.

Creating a topic that exists is success. An existing ``edx.agencies`` that is
not compacted is refused (:class:`TopicError`): the directory would lose nothing
but grow forever and, worse, someone set it up by hand differently. Brokers
differ in what they accept: a broker that refuses a topic config is asked again
without it, and the gap is logged rather than assumed (DESIGN.md §7).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import TopicPartition

from bus.errors import TopicError
from bus.kafka import make_admin, make_consumer, make_producer, started, translate_errors
from bus.settings import Settings

__all__ = [
    "FOREVER",
    "LOG_APPEND_TIME",
    "TopicSpec",
    "broker_applies_log_append_time",
    "broker_time",
    "checkpoint_topic_spec",
    "describe_topic_configs",
    "ensure_checkpoint_topic",
    "ensure_inbox",
    "ensure_topics",
    "topic_specs",
]

log = logging.getLogger(__name__)

#: retention.ms of a topic that keeps every record.
FOREVER = "-1"
#: ``timestamp_type`` of a record whose time the broker set (Kafka's LogAppendTime).
LOG_APPEND_TIME = 1
_BROKER_TIME = {"message.timestamp.type": "LogAppendTime"}
_PROBE_TIMESTAMP_MS = 1_000  # 1970: no broker clock says so
_applies: dict[str, bool] = {}
_TOPIC_ALREADY_EXISTS = kafka_errors.TopicAlreadyExistsError.errno
_CONFIG_REFUSED = frozenset(
    {
        kafka_errors.InvalidConfigurationError.errno,
        kafka_errors.PolicyViolationError.errno,
        kafka_errors.UnsupportedVersionError.errno,
    }
)


@dataclass(frozen=True)
class TopicSpec:
    """One topic as edxbus wants it."""

    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        """Whether the topic keeps only the newest record per key."""
        return "compact" in self.configs.get("cleanup.policy", "")


def _keep_forever() -> dict[str, str]:
    return {"retention.ms": FOREVER, "retention.bytes": FOREVER, "cleanup.policy": "delete"}


def _carries_packages(settings: Settings) -> dict[str, str]:
    """Topics whose values are whole packages: room for the largest one allowed."""
    return {**_keep_forever(), "max.message.bytes": str(_record_room(settings))}


def _record_room(settings: Settings) -> int:
    # Headers, key and the record batch framing come on top of the package.
    return settings.packages.max_package_bytes + 64 * 1024


def topic_specs(settings: Settings, agencies: Iterable[str] = ()) -> list[TopicSpec]:
    """The §3 topics for ``settings``, plus the inboxes of ``agencies``."""
    names = settings.topics
    specs = [
        TopicSpec(
            names.submit,
            settings.topic_layout.partitions,
            {**_carries_packages(settings), **_BROKER_TIME},
        ),
        TopicSpec(
            names.events, settings.topic_layout.partitions, {**_keep_forever(), **_BROKER_TIME}
        ),
        TopicSpec(names.deadletter, settings.topic_layout.partitions, _carries_packages(settings)),
        # One partition: the directory is small and read whole, in order, by everyone.
        TopicSpec(names.agencies, 1, {"cleanup.policy": "compact", "retention.ms": FOREVER}),
    ]
    specs.extend(_inbox_spec(settings, code) for code in dict.fromkeys(agencies))
    return specs


def _inbox_spec(settings: Settings, agency: str) -> TopicSpec:
    return TopicSpec(
        settings.topics.inbox(agency), settings.topic_layout.partitions, _carries_packages(settings)
    )


async def ensure_topics(settings: Settings, agencies: Iterable[str] = ()) -> None:
    """Create the §3 topics (and the inboxes of ``agencies``) unless they exist.

    Idempotent and safe to run from every service at start-up.
    """
    specs = topic_specs(settings, agencies)
    async with started(make_admin(settings), "creating topics") as admin:
        await _create(admin, settings, specs)
        compacted = [spec.name for spec in specs if spec.compacted]
        await _check_compacted(admin, compacted)
        await _check_broker_time(admin, [settings.topics.submit, settings.topics.events])
    first_probe = settings.broker.bootstrap not in _applies
    if not await broker_applies_log_append_time(settings) and first_probe:
        log.warning(
            "the broker does not apply LogAppendTime: record times on %s and %s are the "
            "producers'; the log's time-stamped checkpoints are the trusted times",
            settings.topics.submit,
            settings.topics.events,
        )


async def ensure_inbox(settings: Settings, agency: str) -> None:
    """Create one agency's inbox topic unless it exists (on agency registration)."""
    async with started(make_admin(settings), f"creating the inbox of {agency}") as admin:
        await _create(admin, settings, [_inbox_spec(settings, agency)])


async def _create(admin: AIOKafkaAdminClient, settings: Settings, specs: list[TopicSpec]) -> None:
    refused_configs: list[TopicSpec] = []
    with translate_errors("creating topics"):
        response = await admin.create_topics(
            [_new_topic(settings, spec, with_configs=True) for spec in specs]
        )
    by_name = {spec.name: spec for spec in specs}
    for name, code, message in _topic_errors(response):
        if code in (0, _TOPIC_ALREADY_EXISTS):
            continue
        if code in _CONFIG_REFUSED:
            refused_configs.append(by_name[name])
            continue
        raise TopicError(f"topic {name} cannot be created: {message or _error_name(code)}")
    if not refused_configs:
        return
    for spec in refused_configs:
        log.warning(
            "broker refused configs %s of topic %s; creating it with broker defaults",
            dict(spec.configs),
            spec.name,
        )
    with translate_errors("creating topics"):
        response = await admin.create_topics(
            [_new_topic(settings, spec, with_configs=False) for spec in refused_configs]
        )
    for name, code, message in _topic_errors(response):
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            raise TopicError(f"topic {name} cannot be created: {message or _error_name(code)}")


def _new_topic(settings: Settings, spec: TopicSpec, *, with_configs: bool) -> NewTopic:
    return NewTopic(
        spec.name,
        spec.partitions,
        settings.topic_layout.replication_factor,
        topic_configs=dict(spec.configs) if with_configs else {},
    )


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    rows = getattr(response, "topic_errors", [])
    result: list[tuple[str, int, str | None]] = []
    for row in rows:
        name, code = row[0], row[1]
        message = row[2] if len(row) > 2 else None
        result.append((str(name), int(code), message))
    return result


def _error_name(code: int) -> str:
    return str(kafka_errors.for_code(code).__name__)


def checkpoint_topic_spec(name: str) -> TopicSpec:
    """The log's checkpoint topic: compacted, one partition, newest checkpoint per origin."""
    return TopicSpec(name, 1, {"cleanup.policy": "compact", "retention.ms": FOREVER})


async def ensure_checkpoint_topic(settings: Settings, name: str) -> None:
    """Create the compacted checkpoint topic ``name`` unless it exists (refusing an
    existing one that is not compacted: the newest checkpoint per origin is the point)."""
    spec = checkpoint_topic_spec(name)
    async with started(make_admin(settings), "creating the checkpoint topic") as admin:
        await _create(admin, settings, [spec])
        await _check_compacted(admin, [spec.name])


async def _check_broker_time(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    for topic in topics:
        kind = (await _describe(admin, topic)).get("message.timestamp.type")
        if kind is not None and kind != "LogAppendTime":
            log.warning(
                "topic %s keeps producer times (message.timestamp.type=%s); set it to "
                "LogAppendTime so its record times are the broker's",
                topic,
                kind,
            )


def broker_time(timestamp_ms: int, timestamp_type: int) -> datetime | None:
    """A record's time if the broker set it (LogAppendTime), else ``None``: a time the
    producer chose is no evidence."""
    if timestamp_type != LOG_APPEND_TIME or timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


async def broker_applies_log_append_time(settings: Settings) -> bool:
    """Whether the broker stamps records of a LogAppendTime topic with its own time.

    Writes one record dated 1970 to a one-partition probe topic (created with the
    config, kept one hour) and reads its time back; the answer is kept per
    bootstrap address for the life of the process.
    """
    known = _applies.get(settings.broker.bootstrap)
    if known is not None:
        return known
    probe = f"{settings.topics.events}.time-probe"
    spec = TopicSpec(probe, 1, {**_BROKER_TIME, "retention.ms": "3600000"})
    async with started(make_admin(settings), "creating the time probe topic") as admin:
        await _create(admin, settings, [spec])
    async with started(make_producer(settings), "probing broker time") as producer:
        with translate_errors("probing broker time"):
            metadata = await producer.send_and_wait(
                probe, b"probe", timestamp_ms=_PROBE_TIMESTAMP_MS
            )
    # What a reader sees is what counts: the record's own timestamp type.
    applies = await _read_back(settings, probe, metadata.partition, metadata.offset)
    _applies[settings.broker.bootstrap] = applies
    return applies


async def _read_back(settings: Settings, topic: str, partition: int, offset: int) -> bool:
    tp = TopicPartition(topic, partition)
    async with started(make_consumer(settings), "probing broker time") as consumer:
        with translate_errors("probing broker time"):
            consumer.assign([tp])
            consumer.seek(tp, offset)
            batch = await consumer.getmany(tp, timeout_ms=10_000, max_records=1)
    records = [r for r in batch.get(tp, []) if r.offset == offset]
    return bool(records) and records[0].timestamp_type == LOG_APPEND_TIME


async def describe_topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The configs the broker reports for ``topic`` (empty when it cannot say)."""
    async with started(make_admin(settings), f"describing topic {topic}") as admin:
        return await _describe(admin, topic)


async def _describe(admin: AIOKafkaAdminClient, topic: str) -> dict[str, str]:
    try:
        with translate_errors(f"describing topic {topic}"):
            responses = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
    except TopicError:
        raise
    except Exception as exc:  # a broker without DescribeConfigs: feature gap, not failure
        log.warning("broker cannot describe configs of %s: %s", topic, exc)
        return {}
    configs: dict[str, str] = {}
    for response in responses:
        for resource in response.to_object().get("resources", []):
            if resource.get("error_code", 0):
                continue
            for entry in resource.get("config_entries", []):
                configs[str(entry["config_names"])] = str(entry["config_value"])
    return configs


async def _check_compacted(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    for topic in topics:
        policy = (await _describe(admin, topic)).get("cleanup.policy")
        if policy is not None and "compact" not in policy:
            raise TopicError(
                f"topic {topic} exists with cleanup.policy={policy}; "
                "it keeps the newest record per key and needs cleanup.policy=compact"
            )
