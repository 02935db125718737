"""Topic administration: the topics of DESIGN.md §3, created idempotently.

Every topic keeps its records forever (``retention.ms=-1``): ``edx.submit`` is the
record of what was sent, inboxes and events are what auditors replay.
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

from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.errors import TopicError
from bus.kafka import make_admin, started, translate_errors
from bus.settings import Settings

__all__ = [
    "FOREVER",
    "TopicSpec",
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
    return settings.max_package_bytes + 64 * 1024


def topic_specs(settings: Settings, agencies: Iterable[str] = ()) -> list[TopicSpec]:
    """The §3 topics for ``settings``, plus the inboxes of ``agencies``."""
    names = settings.topics
    specs = [
        TopicSpec(names.submit, settings.partitions, _carries_packages(settings)),
        TopicSpec(names.events, settings.partitions, _keep_forever()),
        TopicSpec(names.deadletter, settings.partitions, _carries_packages(settings)),
        # One partition: the directory is small and read whole, in order, by everyone.
        TopicSpec(names.agencies, 1, {"cleanup.policy": "compact", "retention.ms": FOREVER}),
    ]
    specs.extend(_inbox_spec(settings, code) for code in dict.fromkeys(agencies))
    return specs


def _inbox_spec(settings: Settings, agency: str) -> TopicSpec:
    return TopicSpec(
        settings.topics.inbox(agency), settings.partitions, _carries_packages(settings)
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
        settings.replication_factor,
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
