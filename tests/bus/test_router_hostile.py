"""Hostile inputs (tests/data/hostile) submitted to the bus: refused by name, nothing lost.

None of these files is signed by a trusted agency, and several attack the parser
(entity expansion, external DTDs, deep nesting). The router must refuse each one
with a named reason in the dead-letter topic, keep the bytes, deliver nothing,
and keep routing afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.kafka import make_producer, started
from bus.records import content_digest
from bus.settings import Settings
from edxml import build
from signing import Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_events,
    read_topic,
    register,
    route,
    signed,
    submit,
)

pytestmark = pytest.mark.kafka

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"
SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
#: Reasons that say "the parser refused a dangerous construct".
UNSAFE = {"forbidden-dtd", "forbidden-entity", "too-deep", "unsafe-xml", "malformed-xml"}


async def test_every_hostile_file_is_refused_by_name_and_routing_goes_on(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    files = sorted(HOSTILE.glob("*.edxml"))
    assert len(files) > 10
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    for path in files:
        await submit(settings, path.read_bytes(), sender=SENDER)
    good = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    await submit(settings, good, sender=SENDER)
    async with quick_router(settings) as router:
        await route(router, len(files) + 1)

    dead = await read_topic(settings, settings.topics.deadletter)
    assert len(dead) == len(files)
    by_value = {r.value: r.headers["edx-reason-code"] for r in dead}
    for path in files:
        reason = by_value[path.read_bytes()]  # the bytes are kept as they came
        assert reason, path.name
        assert reason != "edxbus-error", path.name
    for name in ("billion-laughs", "external-dtd", "very-deep-nesting"):  # parser attacks
        assert by_value[(HOSTILE / f"{name}.edxml").read_bytes()] in UNSAFE, name
    (delivered,) = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert delivered.value == good


async def test_a_record_too_large_for_the_dead_letter_topic_goes_there_without_its_body(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    # The dead-letter topic and the router's producer are sized for the package
    # limit; a record far over it (the broker took it) cannot be copied there.
    settings = bus_settings.with_overrides(pki=pki_dir, max_package_bytes=64 * 1024)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    huge = b"<x>" + b"A" * (3 * 1024 * 1024) + b"</x>"
    async with started(make_producer(settings, max_request_size=8 * 1024 * 1024)) as producer:
        await producer.send_and_wait(settings.topics.submit, huge, key=SENDER.encode())
    good = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    await submit(settings, good, sender=SENDER)
    async with quick_router(settings) as router:
        await route(router, 2)

    (dead,) = await read_topic(settings, settings.topics.deadletter)
    assert dead.value is None  # the body is left out, what identifies it is kept
    assert dead.headers["edx-reason-code"] == "package-too-large"
    assert dead.headers["edx-digest"] == content_digest(huge)
    assert dead.headers["edx-size"] == str(len(huge))
    assert dead.key == SENDER
    (delivered,) = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert delivered.value == good  # routing went on
    rejected = [e for e in await read_events(settings) if e["kind"] == "REJECTED"]
    assert [e["reason_code"] for e in rejected] == ["package-too-large"]


async def test_records_nobody_signed_tell_no_inbox_and_stop_no_one(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    # Hostile traffic keyed with a real agency's code: garbage, truncated and
    # unsigned packages. None is the victim's doing, so none lands in its inbox.
    victim, other = SENDER, "000.00.00.H44"
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [victim, other, RECIPIENT])
    whole = signed(document(victim, [RECIPIENT]), signer_for(victim))
    hostile = [b"\x00\xff garbage %d" % n for n in range(60)]
    hostile += [whole[: len(whole) // 2]] * 20  # truncated
    hostile += [build(document(victim, [RECIPIENT])) for _ in range(20)]  # unsigned
    async with started(make_producer(settings, linger_ms=50)) as producer:
        sent = [
            await producer.send(settings.topics.submit, value, key=victim.encode())
            for value in hostile
        ]
        await asyncio.gather(*sent)
    good = signed(document(other, [RECIPIENT]), signer_for(other))
    await submit(settings, good, sender=other)
    async with quick_router(settings) as router:
        await route(router, len(hostile) + 1)

    assert await read_topic(settings, settings.topics.inbox(victim)) == []
    dead = await read_topic(settings, settings.topics.deadletter)
    assert len(dead) == len(hostile)
    rejected = [e for e in await read_events(settings) if e["kind"] == "REJECTED"]
    assert len(rejected) == len(hostile)  # refused by name, on record
    (delivered,) = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert delivered.value == good


async def test_a_corrupt_batch_is_dead_lettered_record_by_record_and_routing_goes_on(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    # A client that can write edx.submit can write a record batch whose CRC fails:
    # the driver then refuses every fetch of the partition, good records included.
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    before = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    after = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    topic = settings.topics.submit
    async with started(make_producer(settings)) as producer:
        await producer.send_and_wait(topic, before, key=SENDER.encode(), partition=0)
        batch = producer.create_batch()
        for n in range(2):
            batch.append(key=SENDER.encode(), value=b"<corrupt %d/>" % n, timestamp=None)
        raw = batch._build()  # the bytes that will be sent, CRC already computed
        raw[-3] ^= 0xFF
        await (await producer.send_batch(batch, topic, partition=0))
        await producer.send_and_wait(topic, after, key=SENDER.encode(), partition=0)
    async with quick_router(settings) as router:
        await route(router, 4)
    assert router.stats.reasons == {"unreadable-record": 2}

    dead = await read_topic(settings, settings.topics.deadletter)
    assert sorted(r.headers["edx-source"] for r in dead) == [f"{topic}/0/1", f"{topic}/0/2"]
    assert all(r.value is None for r in dead)  # nothing of it can be trusted or kept
    assert {r.headers["edx-reason-code"] for r in dead} == {"unreadable-record"}
    inbox = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert [r.value for r in inbox] == [before, after]
    # Committed past it: a router started afresh in the same group meets nothing.
    async with quick_router(settings) as again:
        while not again.assignment:
            assert await again.route_available(timeout_ms=500) == 0
        assert await again.route_available(timeout_ms=500) == 0


async def test_null_header_values_and_odd_keys_are_refused_and_routing_goes_on(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    # The protocol lets any client send a header without a value, or a key that
    # is not text; neither may stop the router on its batch.
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    async with started(make_producer(settings)) as producer:
        await producer.send_and_wait(
            settings.topics.submit,
            b"<x/>",
            key=SENDER.encode(),
            headers=[("edx-kind", None), ("edx-document-id", None)],  # type: ignore[list-item]
        )
        await producer.send_and_wait(settings.topics.submit, b"<x/>", key=b"\xff\xfe")
        huge = [("edx-document-id", b"D" * 2_000_000)]  # copied into the event, unbounded
        await producer.send_and_wait(settings.topics.submit, b"<x/>", key=b"k", headers=huge)
    good = signed(document(SENDER, [RECIPIENT]), signer_for(SENDER))
    await submit(settings, good, sender=SENDER)
    async with quick_router(settings) as router:
        await route(router, 4)
    assert router.stats.rejected == 3
    (delivered,) = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert delivered.value == good
    rejected = [e for e in await read_events(settings) if e["kind"] == "REJECTED"]
    assert max(len(e["document_id"]) for e in rejected) <= 256
