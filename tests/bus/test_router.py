"""The router against the real broker: delivery, retries, replays, refusals, statuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bus.directory import Agency, publish_agency, suspend_agency
from bus.metrics import REGISTRY
from bus.settings import Settings
from edxml import StatusCode, build
from signing import DevPki, Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_events,
    read_topic,
    register,
    route,
    signed,
    status,
    submit,
)

pytestmark = pytest.mark.kafka

CENTRAL = "000.00.00.G22"
PROVINCE = "000.00.00.H41"
DISTRICT = "000.00.24.H44"
COMMUNE = "000.46.24.H44"
STRANGER = "000.00.00.H44"


@pytest.fixture
async def settings(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> Settings:
    """The test's bus settings with the dev PKI, and the agencies registered."""
    configured = bus_settings.with_overrides(pki=pki_dir)
    await register(configured, signer_for, [CENTRAL, PROVINCE, DISTRICT, COMMUNE, STRANGER])
    return configured


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _reasons(settings: Settings) -> list[str]:
    return [
        r.headers["edx-reason-code"] for r in await read_topic(settings, settings.topics.deadletter)
    ]


async def test_document_reaches_every_recipient_unchanged(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    package = document(CENTRAL, [PROVINCE, DISTRICT])
    data = signed(package, signer_for(CENTRAL))
    await submit(settings, data, sender=CENTRAL, document_id=package.document_id)
    delivered_before = _metric("edx_packages_delivered_total")
    async with quick_router(settings) as router:
        await route(router, 1)
    assert router.stats.delivered == 2
    assert _metric("edx_packages_delivered_total") - delivered_before == 2
    lag = [
        REGISTRY.get_sample_value(
            "edx_consumer_lag",
            {"service": "router", "topic": settings.topics.submit, "partition": p},
        )
        for p in ("0", "1")
    ]
    assert 0.0 in lag  # reported, and the partition the package was on is caught up
    for recipient in (PROVINCE, DISTRICT):
        (copy,) = await read_topic(settings, settings.topics.inbox(recipient))
        assert copy.value == data  # byte for byte
        assert copy.key == CENTRAL
        assert copy.headers["edx-kind"] == "document"
        assert copy.headers["edx-document-id"] == package.document_id
        assert copy.headers["edx-sender"] == CENTRAL
        assert copy.headers["edx-source"].startswith(settings.topics.submit + "/")
    assert await read_topic(settings, settings.topics.inbox(COMMUNE)) == []
    events = await read_events(settings)
    kinds = sorted((e["kind"], e["recipient"]) for e in events)
    assert kinds == [("DELIVERED", PROVINCE), ("DELIVERED", DISTRICT), ("SUBMITTED", None)]
    submitted = next(e for e in events if e["kind"] == "SUBMITTED")
    assert submitted["recipients"] == [PROVINCE, DISTRICT]
    assert submitted["subject"] == package.subject
    assert submitted["business_type"] == "new"
    assert await read_topic(settings, settings.topics.deadletter) == []


async def test_offsets_are_committed_so_a_restart_routes_nothing_twice(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    package = document(CENTRAL, [PROVINCE])
    await submit(settings, signed(package, signer_for(CENTRAL)), sender=CENTRAL)
    async with quick_router(settings) as router:
        await route(router, 1)
    async with quick_router(settings) as again:
        while not again.assignment:  # joined the group: holds the partitions
            assert await again.route_available(timeout_ms=500) == 0
        assert await again.route_available(timeout_ms=500) == 0
        assert again.stats.handled == 0
    assert len(await read_topic(settings, settings.topics.inbox(PROVINCE))) == 1


async def test_same_bytes_again_is_a_retry_and_other_bytes_a_replay(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    package = document(CENTRAL, [PROVINCE])
    data = signed(package, signer_for(CENTRAL))
    await submit(settings, data, sender=CENTRAL)
    async with quick_router(settings) as router:
        await route(router, 1)
    # The router restarts (new instance, same store): its memory survives.
    await submit(settings, data, sender=CENTRAL)  # a retry by the sender's outbox
    altered = package.__class__(**{**_fields(package), "subject": "Nội dung khác"})
    other = signed(altered, signer_for(CENTRAL))
    await submit(settings, other, sender=CENTRAL, document_id=package.document_id)
    # A new router in another group reads edx.submit from the start: the first
    # record and its retry are both retries now.
    async with quick_router(settings, group_id=settings.groups.router + "-2") as router:
        await route(router, 3)
    assert router.stats.retries == 2
    inbox = await read_topic(settings, settings.topics.inbox(PROVINCE))
    assert [r.value for r in inbox] == [data]  # not sent twice, replay not delivered
    assert await _reasons(settings) == ["replay"]
    notices = [
        r
        for r in await read_topic(settings, settings.topics.inbox(CENTRAL))
        if r.headers.get("edx-kind") == "rejection"
    ]
    assert [n.headers["edx-reason-code"] for n in notices] == ["replay"]
    assert notices[0].value == other
    rejected = [e for e in await read_events(settings) if e["kind"] == "REJECTED"]
    assert [(e["reason_code"], e["document_id"], e["actor"]) for e in rejected] == [
        ("replay", package.document_id, CENTRAL)
    ]


def _fields(package: object) -> dict[str, object]:
    return {name: getattr(package, name) for name in package.__dataclass_fields__}  # type: ignore[attr-defined]


async def test_refused_packages_land_in_the_dead_letter_topic_and_their_signer_learns_why(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    unsigned = document(PROVINCE, [CENTRAL])
    await submit(settings, build(unsigned), sender=PROVINCE, document_id=unsigned.document_id)

    tampered_package = document(PROVINCE, [CENTRAL], subject="Báo cáo tháng 11")
    tampered = signed(tampered_package, signer_for(PROVINCE)).replace(
        "Báo cáo tháng 11".encode(), "Báo cáo tháng 12".encode()
    )
    await submit(settings, tampered, sender=PROVINCE)

    # Signed with the central office's certificate, claiming to come from the province.
    impersonating = signed(document(PROVINCE, [DISTRICT]), signer_for(CENTRAL))
    await submit(settings, impersonating, sender=PROVINCE)

    misaddressed = signed(document(PROVINCE, [CENTRAL, "000.00.00.H99"]), signer_for(PROVINCE))
    await submit(settings, misaddressed, sender=PROVINCE)

    await submit(settings, b"<not-xml", sender=PROVINCE)

    async with quick_router(settings) as router:
        await route(router, 5)
    reasons = await _reasons(settings)
    assert reasons == [
        "no-signature",
        "digest-mismatch",
        "sender-mismatch",
        "unknown-agency",
        "malformed-xml",
    ]
    dead = await read_topic(settings, settings.topics.deadletter)
    assert dead[1].value == tampered  # the rejected bytes are kept as they came
    assert all(r.key == PROVINCE for r in dead)
    assert "H99" in dead[3].headers["edx-reason"]
    # A notice goes only to the agency whose bound certificate signed the record:
    # the province hears of its misaddressed package, not of records nobody (or
    # someone else's key) signed in its name.
    notices = await read_topic(settings, settings.topics.inbox(PROVINCE))
    assert [n.headers["edx-reason-code"] for n in notices] == ["unknown-agency"]
    assert {n.headers["edx-kind"] for n in notices} == {"rejection"}
    assert notices[0].value == misaddressed
    # Nothing reached a recipient.
    assert await read_topic(settings, settings.topics.inbox(CENTRAL)) == []
    assert await read_topic(settings, settings.topics.inbox(DISTRICT)) == []
    rejected = [e["reason_code"] for e in await read_events(settings) if e["kind"] == "REJECTED"]
    assert sorted(rejected) == sorted(reasons)  # events are keyed by document: any order


async def test_suspended_unknown_and_unlisted_senders_are_refused(
    settings: Settings, signer_for: Callable[[str], Signer], dev_pki: DevPki
) -> None:
    await suspend_agency(settings, DISTRICT)
    await submit(
        settings, signed(document(CENTRAL, [DISTRICT]), signer_for(CENTRAL)), sender=CENTRAL
    )
    await submit(
        settings, signed(document(DISTRICT, [CENTRAL]), signer_for(DISTRICT)), sender=DISTRICT
    )
    # The directory lists another certificate for the commune.
    commune = Agency.new(COMMUNE, "UBND Xã", cert_fingerprints=["00" * 32])
    await publish_agency(settings, commune)
    await submit(
        settings, signed(document(COMMUNE, [CENTRAL]), signer_for(COMMUNE)), sender=COMMUNE
    )
    # An agency with a valid certificate that is not in the directory at all.
    outsider = "000.02.00.H41"
    await submit(
        settings, signed(document(outsider, [CENTRAL]), signer_for(outsider)), sender=outsider
    )
    async with quick_router(settings) as router:
        await route(router, 4)
    # Different senders: different partitions, so no order across them.
    assert sorted(await _reasons(settings)) == [
        "certificate-not-listed",
        "inactive-agency",
        "inactive-agency",
        "unknown-agency",
    ]
    # The outsider is not in the directory, so no notice can go to an inbox of its own.
    assert await read_topic(settings, settings.topics.inbox(outsider)) == []


async def test_oversized_package_is_refused(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    small = settings.with_overrides(max_package_bytes=2000)
    await submit(small, signed(document(CENTRAL, [PROVINCE]), signer_for(CENTRAL)), sender=CENTRAL)
    async with quick_router(small) as router:
        await route(router, 1)
    assert await _reasons(small) == ["package-too-large"]


async def test_statuses_go_to_the_original_sender_only_from_recipients(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    package = document(CENTRAL, [PROVINCE, DISTRICT])
    await submit(settings, signed(package, signer_for(CENTRAL)), sender=CENTRAL)
    arrived = signed(status(PROVINCE, package, StatusCode.ARRIVED), signer_for(PROVINCE))
    await submit(settings, arrived, sender=PROVINCE, kind="status", document_id=package.document_id)
    await submit(settings, arrived, sender=PROVINCE, kind="status")  # a retry: not twice
    nosy = signed(status(STRANGER, package, StatusCode.ARRIVED), signer_for(STRANGER))
    await submit(settings, nosy, sender=STRANGER, kind="status")
    take_back = signed(status(CENTRAL, package, StatusCode.TAKE_BACK), signer_for(CENTRAL))
    await submit(settings, take_back, sender=CENTRAL, kind="status")
    wrong_take_back = signed(status(DISTRICT, package, StatusCode.TAKE_BACK), signer_for(DISTRICT))
    await submit(settings, wrong_take_back, sender=DISTRICT, kind="status")
    async with quick_router(settings) as router:
        await route(router, 6)

    central_inbox = await read_topic(settings, settings.topics.inbox(CENTRAL))
    statuses = [r for r in central_inbox if r.headers.get("edx-kind") == "status"]
    assert [r.value for r in statuses] == [arrived]
    assert statuses[0].key == PROVINCE
    for recipient in (PROVINCE, DISTRICT):
        inbox = await read_topic(settings, settings.topics.inbox(recipient))
        assert take_back in [r.value for r in inbox if r.headers.get("edx-kind") == "status"]
    assert await _reasons(settings) == ["unauthorized-status", "unauthorized-status"]
    events = await read_events(settings)
    status_events = sorted(
        (e["status_code"], e["actor"], e["recipient"], e["document_id"])
        for e in events
        if e["kind"] == "STATUS"
    )
    assert status_events == [
        ("01", PROVINCE, CENTRAL, package.document_id),
        ("13", CENTRAL, PROVINCE, package.document_id),
        ("13", CENTRAL, DISTRICT, package.document_id),
    ]


async def test_status_about_an_unknown_document_is_refused(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    never_sent = document(CENTRAL, [PROVINCE])
    answer = signed(status(PROVINCE, never_sent, StatusCode.ACCEPTED), signer_for(PROVINCE))
    await submit(settings, answer, sender=PROVINCE, kind="status")
    async with quick_router(settings) as router:
        await route(router, 1)
    assert await _reasons(settings) == ["unauthorized-status"]


async def test_revocation_is_routed_as_a_document(
    settings: Settings, signer_for: Callable[[str], Signer]
) -> None:
    from edxml import BusinessDocType, new_document

    original = document(CENTRAL, [PROVINCE])
    revocation = new_document(
        CENTRAL,
        [PROVINCE],
        number="99",
        notation="THU-HOI",
        subject="Thu hồi văn bản",
        signer_name="Nguyễn Văn A",
        business=BusinessDocType.REVOCATION,
        target_document_id=original.document_id,
        reason="sai sót",
    )
    await submit(settings, signed(original, signer_for(CENTRAL)), sender=CENTRAL)
    await submit(settings, signed(revocation, signer_for(CENTRAL)), sender=CENTRAL)
    async with quick_router(settings) as router:
        await route(router, 2)
    assert len(await read_topic(settings, settings.topics.inbox(PROVINCE))) == 2
    # Events are keyed by DocumentId, so the two land on partitions of their own:
    # compare them by document, never by the order a reader meets them in.
    submitted = {
        e["document_id"]: (e["business_type"], e["target_document_id"])
        for e in await read_events(settings)
        if e["kind"] == "SUBMITTED"
    }
    assert submitted == {
        original.document_id: ("new", None),
        revocation.document_id: ("revocation", original.document_id),
    }
