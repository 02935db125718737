"""Topic administration against the session broker: the §3 topics, idempotently."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bus.errors import TopicError
from bus.kafka import make_admin, started
from bus.settings import Settings
from bus.topics import describe_topic_configs, ensure_inbox, ensure_topics, topic_specs

pytestmark = pytest.mark.kafka


async def _topics(settings: Settings) -> set[str]:
    async with started(make_admin(settings)) as admin:
        return set(await admin.list_topics())


def test_specs_keep_everything_and_compact_the_directory() -> None:
    specs = {s.name: s for s in topic_specs(Settings.of(partitions=4), ["000.00.00.H41"])}
    assert set(specs) == {
        "edx.submit",
        "edx.events",
        "edx.deadletter",
        "edx.agencies",
        "edx.inbox.000.00.00.H41",
    }
    assert specs["edx.agencies"].compacted
    assert specs["edx.agencies"].partitions == 1
    for name in ("edx.submit", "edx.events", "edx.deadletter", "edx.inbox.000.00.00.H41"):
        assert specs[name].configs["retention.ms"] == "-1"
        assert not specs[name].compacted
        assert specs[name].partitions == 4
    for name in ("edx.submit", "edx.deadletter", "edx.inbox.000.00.00.H41"):
        # Room for the largest package the settings allow.
        assert int(specs[name].configs["max.message.bytes"]) > Settings().packages.max_package_bytes


async def test_creates_all_topics_idempotently(bus_settings: Settings) -> None:
    names = bus_settings.topics
    await ensure_topics(bus_settings, ["000.00.00.H41"])
    await ensure_topics(bus_settings, ["000.00.00.H41"])  # the second run changes nothing
    present = await _topics(bus_settings)
    expected = {
        names.submit,
        names.events,
        names.deadletter,
        names.agencies,
        names.inbox("000.00.00.H41"),
    }
    assert expected <= present
    async with started(make_admin(bus_settings)) as admin:
        described = {t["topic"]: t for t in await admin.describe_topics([names.submit])}
    assert len(described[names.submit]["partitions"]) == bus_settings.topic_layout.partitions


async def test_directory_topic_is_compacted(bus_settings: Settings) -> None:
    await ensure_topics(bus_settings)
    configs = await describe_topic_configs(bus_settings, bus_settings.topics.agencies)
    assert configs.get("cleanup.policy") == "compact"


async def test_inbox_is_created_on_demand(bus_settings: Settings) -> None:
    await ensure_inbox(bus_settings, "000.00.24.H44")
    await ensure_inbox(bus_settings, "000.00.24.H44")
    assert bus_settings.topics.inbox("000.00.24.H44") in await _topics(bus_settings)


async def test_directory_topic_that_is_not_compacted_is_refused(bus_settings: Settings) -> None:
    # Someone created the directory topic by hand as an ordinary topic.
    await ensure_inbox(
        replace(bus_settings, topics=replace(bus_settings.topics, inbox_prefix="")),
        bus_settings.topics.agencies,
    )
    with pytest.raises(TopicError, match="compact"):
        await ensure_topics(bus_settings)
