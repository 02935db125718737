"""Faults: refused packages, and a broker that stops and comes back without its data.

DESIGN.md §6: the outbox keeps every document until every recipient's 01 came
back, the inbox dedup store keeps every package from reaching an application
twice; so even a broker that loses its memory (the embedded Tansu keeps
everything in memory) loses no document and duplicates none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agency_client import (
    AgencyClient,
    RejectionNotice,
    SubmissionRejectedError,
)
from bus import Settings
from bus.embedded import EmbeddedBroker, free_port
from bus.errors import BrokerUnavailableError
from bus.logs import record_fields
from bus.records import Header, decode_headers
from edxml import build
from signing import DevPki
from tests.agency_client.helpers import (
    ALL_AGENCIES,
    COMMUNE,
    DISTRICT,
    OTHER_PROVINCE,
    PROVINCE,
    delivery_headers,
    documents_taken,
    make_document,
    produce,
    read_records,
    register_agencies,
    running_router,
    take,
)
from tests.fixtures.broker import topic_names, unique_name

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def test_refused_packages_go_to_the_dead_letters_and_their_signer_hears_why(
    live_bus: Settings, dev_pki: DevPki
) -> None:
    settings = live_bus
    province = dev_pki.signer(PROVINCE)
    unsigned = build(make_document(PROVINCE, [DISTRICT], subject="Không ký"))
    signed = province.sign(build(make_document(PROVINCE, [DISTRICT], subject="Bản gốc")))
    tampered = signed.replace("Bản gốc".encode(), "Bản sửa".encode())
    impostor = dev_pki.signer(OTHER_PROVINCE).sign(
        build(make_document(PROVINCE, [DISTRICT], subject="Mạo danh")), check_sender=False
    )
    cases = {"unsigned": unsigned, "tampered": tampered, "impersonating": impostor}
    for data in cases.values():
        await produce(
            settings,
            settings.topics.submit,
            data,
            key=PROVINCE,
            headers=delivery_headers("document", "", PROVINCE, data),
        )

    async with AgencyClient(settings, PROVINCE) as client:
        # Misaddressed, through the SDK itself: a recipient the directory does not know.
        stray = make_document(PROVINCE, ["000.99.99.H44"], subject="Gửi nhầm")
        stray_id = await client.send(stray)
        with pytest.raises(SubmissionRejectedError) as refused:
            await client.wait_delivered(stray_id, timeout=30)
        assert refused.value.reason_code == "unknown-agency"
        assert refused.value.document_id == stray_id

        # Only what this agency verifiably signed comes back to it: the three
        # records above, signed by no one or by another key, go to dead letters only.
        item = await take(client)
        assert isinstance(item, RejectionNotice), item
        assert item.in_outbox
        assert item.document_id == stray_id
        client_sent = item.data
    assert client_sent not in cases.values()

    dead = await read_records(settings, settings.topics.deadletter, count=4)
    by_value = {r.value: decode_headers(r.headers) for r in dead}
    for name, data in {**cases, "misaddressed": client_sent}.items():
        assert by_value[data][Header.REASON], name
    assert by_value[client_sent][Header.REASON_CODE] == "unknown-agency"
    reasons = {by_value[data][Header.REASON_CODE] for data in cases.values()}
    assert len(reasons) == 3, f"each refusal should name its own reason: {reasons}"
    # Nothing reached the district.
    assert await read_records(settings, settings.topics.inbox(DISTRICT), count=1, within=1) == []


# "kept": the router remembers where it wrote each copy, finds them gone and writes
# them again; "lost-too": its memory went with the broker (a fresh embedded stack).
@pytest.mark.parametrize("router_memory", ["kept", "lost-too"])
async def test_a_broker_that_loses_its_data_loses_no_document(
    tmp_path: Path, agency_pki: DevPki, router_memory: str
) -> None:
    dev_pki = agency_pki
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log")
    broker.start()
    try:
        prefix = unique_name()
        settings = Settings.of(
            home=tmp_path / "edx",
            bootstrap=broker.bootstrap,
            topics=topic_names(prefix),
            partitions=2,
            router_group=f"{prefix}-router",
            router_db_url=f"sqlite:///{tmp_path / 'router.db'}",
            pki=dev_pki.directory,
        )
        recipients = [DISTRICT, COMMUNE]
        await register_agencies(settings, dev_pki, ALL_AGENCIES)
        async with AgencyClient(
            settings, PROVINCE, resubmit_after=2.0, publish_timeout=3.0
        ) as province:
            # A: routed into the recipients' inboxes, which nobody reads yet.
            async with running_router(settings):
                a = await province.send(make_document(PROVINCE, recipients, subject="A"))
                for code in recipients:
                    await read_records(settings, settings.topics.inbox(code), count=1)
            # B: submitted while no router runs; it sits in edx.submit.
            b = await province.send(make_document(PROVINCE, recipients, subject="B"))
            broker.stop()
            # C: sent while the broker is down; it sits in the outbox only.
            c = await province.send(make_document(PROVINCE, recipients, subject="C"))
            assert province.sent(c).submit_count == 0
            assert {e.document_id for e in province.pending()} == {a, b, c}

            broker.start()  # same address, empty: topics, directory, offsets are gone
            if router_memory == "lost-too":
                (tmp_path / "router.db").unlink()
            await register_agencies(settings, dev_pki, ALL_AGENCIES)
            async with (
                running_router(settings),
                AgencyClient(settings, DISTRICT) as district,
                AgencyClient(settings, COMMUNE) as commune,
            ):
                for client in (district, commune):
                    seen = await documents_taken(client, {a, b, c}, within=45)
                    assert sorted(seen) == sorted([a, b, c]), f"{client.agency}: {seen}"
                for doc_id in (a, b, c):
                    await province.wait_delivered(doc_id, timeout=60)
            assert province.pending() == []
    finally:
        broker.stop()


async def test_a_client_started_while_the_broker_is_down_keeps_and_later_sends(
    tmp_path: Path, agency_pki: DevPki
) -> None:
    port = free_port()
    prefix = unique_name()
    settings = Settings.of(
        home=tmp_path / "edx",
        bootstrap=f"127.0.0.1:{port}",
        topics=topic_names(prefix),
        partitions=1,
        router_group=f"{prefix}-router",
        router_db_url=f"sqlite:///{tmp_path / 'router.db'}",
        pki=agency_pki.directory,
    )
    broker = EmbeddedBroker(port=port, log_path=tmp_path / "tansu.log")
    try:
        async with AgencyClient(
            settings, PROVINCE, connect_later=True, resubmit_after=1.0, publish_timeout=3.0
        ) as province:
            assert not province.connected
            doc_id = await province.send(make_document(PROVINCE, [DISTRICT], subject="Offline"))
            assert province.sent(doc_id).submit_count == 0

            broker.start()
            await register_agencies(settings, agency_pki, ALL_AGENCIES)
            async with running_router(settings), AgencyClient(settings, DISTRICT) as district:
                item = await take(district, within=60)
                assert item.document_id == doc_id
                await province.wait_delivered(doc_id, timeout=60)
            assert province.connected
    finally:
        broker.stop()


async def test_without_connect_later_an_unreachable_broker_is_a_named_error(
    tmp_path: Path, agency_pki: DevPki
) -> None:
    settings = Settings.of(
        home=tmp_path / "edx", bootstrap=f"127.0.0.1:{free_port()}", pki=agency_pki.directory
    )
    with pytest.raises(BrokerUnavailableError):
        await AgencyClient(settings, PROVINCE).start()


async def test_an_offline_client_logs_its_agency_as_a_field(
    tmp_path: Path, agency_pki: DevPki, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.of(
        home=tmp_path / "edx", bootstrap=f"127.0.0.1:{free_port()}", pki=agency_pki.directory
    )
    with caplog.at_level("INFO", logger="agency_client"):
        async with AgencyClient(settings, PROVINCE, connect_later=True) as province:
            assert not province.connected
    offline = [r for r in caplog.records if "offline" in r.getMessage()]
    assert offline, [r.getMessage() for r in caplog.records]
    assert all(record_fields(r).get("agency") == PROVINCE for r in offline)
