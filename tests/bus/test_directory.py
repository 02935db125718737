"""The agency directory on the compacted edx.agencies topic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.directory import (
    Agency,
    AgencyDirectory,
    AgencyState,
    DirectoryFollower,
    certificate_fingerprints,
    publish_agency,
    reinstate_agency,
    suspend_agency,
)
from bus.errors import InactiveAgencyError, UnknownAgencyError
from bus.events import AGENCY_RECORD
from bus.kafka import make_admin, make_producer, started
from bus.settings import Settings
from edxml.errors import InvalidAgencyCodeError
from signing import DevPki

PROVINCE = "000.00.00.H44"
DISTRICT = "000.00.24.H44"
COMMUNE = "000.46.24.H44"


def test_new_agency_derives_level_and_parent() -> None:
    commune = Agency.new(COMMUNE, "UBND Xã Hoàn Trạch", cert_fingerprints=["AA:BB", "aabb"])
    assert (commune.level, commune.parent) == (3, DISTRICT)
    assert commune.cert_fingerprints == ("aabb",)
    assert commune.active
    province = Agency.new(PROVINCE, "UBND Tỉnh Quảng Bình")
    assert (province.level, province.parent) == (1, None)


def test_invalid_code_is_a_named_error() -> None:
    with pytest.raises(InvalidAgencyCodeError):
        Agency.new("H44", "nowhere")


def test_custom_pattern_admits_test_system_ids() -> None:
    agency = Agency.new("vxp.saas.03", "Test hub", pattern=r"^[a-z.0-9]+$")
    assert (agency.level, agency.parent) == (1, None)


def test_record_round_trip() -> None:
    agency = Agency.new(DISTRICT, "UBND Huyện Bố Trạch", cert_fingerprints=["ab" * 32])
    back = Agency.from_record(AGENCY_RECORD.decode(AGENCY_RECORD.encode(agency.to_record())))
    assert back.code == agency.code
    assert back.cert_fingerprints == agency.cert_fingerprints
    assert abs((back.updated_at - agency.updated_at).total_seconds()) < 0.001


def test_views_by_subtree_and_level() -> None:
    directory = AgencyDirectory(
        Agency.new(code, code)
        for code in (PROVINCE, DISTRICT, COMMUNE, "000.00.00.H41", "000.01.00.H41")
    )
    assert [a.code for a in directory.under(PROVINCE)] == [DISTRICT, COMMUNE]
    assert [a.code for a in directory.under(PROVINCE, inclusive=True)] == [
        PROVINCE,
        DISTRICT,
        COMMUNE,
    ]
    assert [a.code for a in directory.at_level(1)] == ["000.00.00.H41", PROVINCE]
    assert directory.under(COMMUNE) == []


def test_require_names_unknown_and_suspended() -> None:
    suspended = Agency.new(DISTRICT, "x")
    directory = AgencyDirectory(
        [
            Agency.new(PROVINCE, "p"),
            Agency(**{**suspended.__dict__, "state": AgencyState.SUSPENDED}),
        ]
    )
    assert directory.require(PROVINCE).code == PROVINCE
    with pytest.raises(UnknownAgencyError) as unknown:
        directory.require(COMMUNE, "recipient")
    assert unknown.value.reason_code == "unknown-agency"
    assert "recipient" in str(unknown.value)
    with pytest.raises(InactiveAgencyError):
        directory.require(DISTRICT)


def test_fingerprints_of_a_certificate_file(dev_pki: DevPki) -> None:
    cert_path: Path = dev_pki.paths("000.00.00.H44").cert_path
    (fingerprint,) = certificate_fingerprints(cert_path)
    assert fingerprint == dev_pki.signer("000.00.00.H44").fingerprint


@pytest.mark.kafka
async def test_publish_load_suspend_reinstate(bus_settings: Settings) -> None:
    assert len(await AgencyDirectory.load(bus_settings)) == 0  # no topic yet: empty
    await publish_agency(bus_settings, Agency.new(PROVINCE, "UBND Tỉnh Quảng Bình"))
    await publish_agency(bus_settings, Agency.new(DISTRICT, "UBND Huyện Bố Trạch"))
    loaded = await AgencyDirectory.load(bus_settings)
    assert [a.code for a in loaded.all()] == [PROVINCE, DISTRICT]
    assert loaded.get(DISTRICT) is not None
    # Registration created the inbox.
    async with started(make_admin(bus_settings)) as admin:
        assert bus_settings.topics.inbox(DISTRICT) in await admin.list_topics()

    suspended = await suspend_agency(bus_settings, DISTRICT)
    assert suspended.state is AgencyState.SUSPENDED
    reloaded = await AgencyDirectory.load(bus_settings)
    assert not reloaded.get(DISTRICT).active  # type: ignore[union-attr]
    assert (await reinstate_agency(bus_settings, DISTRICT)).active
    with pytest.raises(UnknownAgencyError):
        await suspend_agency(bus_settings, COMMUNE)


@pytest.mark.kafka
async def test_follower_sees_later_records_and_tombstones(bus_settings: Settings) -> None:
    await publish_agency(bus_settings, Agency.new(PROVINCE, "p"))
    async with DirectoryFollower(bus_settings) as follower:
        assert PROVINCE in follower.directory
        assert (await follower.refresh()) is follower.directory  # nothing new: no change
        await publish_agency(bus_settings, Agency.new(COMMUNE, "c"))
        assert COMMUNE in await follower.refresh()
        async with started(make_producer(bus_settings)) as producer:
            await producer.send_and_wait(bus_settings.topics.agencies, None, key=PROVINCE.encode())
        assert PROVINCE not in await follower.refresh()


@pytest.mark.kafka
async def test_following_follower_applies_new_records_by_itself(bus_settings: Settings) -> None:
    await publish_agency(bus_settings, Agency.new(PROVINCE, "p"))
    async with DirectoryFollower(bus_settings, follow=True) as follower:
        await suspend_agency(bus_settings, PROVINCE)
        for _ in range(100):  # no refresh() call: the follower's own task applies it
            agency = follower.directory.get(PROVINCE)
            if agency is not None and not agency.active:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the suspension never reached the following directory")
    assert follower._task is None  # no task outlives the follower's scope


@pytest.mark.kafka
async def test_directory_reads_every_agency_of_a_batched_write(
    bus_settings: Settings, tmp_path: Path
) -> None:
    # On Tansu the listed end of a partition is the start of its last batch plus
    # one: agencies written in one batch (a restore, a bulk import) must all be read.

    from bus.embedded import EmbeddedBroker
    from bus.topics import ensure_topics

    codes = [f"000.00.{n:02d}.H44" for n in range(1, 13)]
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        settings = bus_settings.with_values(bootstrap=broker.bootstrap)
        await ensure_topics(settings)
        async with started(make_producer(settings, linger_ms=200)) as producer:
            sent = [
                await producer.send(
                    settings.topics.agencies,
                    AGENCY_RECORD.encode(Agency.new(code, f"UBND {code}").to_record()),
                    key=code.encode(),
                    partition=0,
                )
                for code in codes
            ]
            await asyncio.gather(*sent)
        directory = await AgencyDirectory.load(settings)
    assert sorted(a.code for a in directory) == codes
