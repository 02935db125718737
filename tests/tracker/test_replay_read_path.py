"""The replay reads packages through the router's read path (``make_reader(settings)``):
a package the router refused reads as refused, with the router's reason code, even
when only the deployment's rules (a custom agency pattern) refuse it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bus import Settings, make_reader, run_replay
from bus.audit import LogRecord, audit_record
from bus.lifecycle import EventKind, decode_event
from edxml import EdxbusError
from signing import DevPki, Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_topic,
    register,
    route,
    signed,
    submit,
)
from tests.tracker.kafka_helpers import record_all

CENTRAL = "000.00.00.G22"
OFFICE = "000.01.00.G22"
PROVINCE = "000.00.00.H41"
#: This deployment's agency codes end in a G-letter: PROVINCE's code does not match.
ONLY_G = r"^\d{3}\.\d{2}\.\d{2}\.G\d{2}$"


def _router_reason(settings: Settings, data: bytes) -> str:
    """The reason code the read path of ``settings`` refuses ``data`` with."""
    with pytest.raises(EdxbusError) as refused:
        make_reader(settings).read(data)
    return refused.value.reason_code


def test_a_package_off_the_agency_pattern_reads_as_refused_with_the_read_paths_reason(
    dev_pki: DevPki, signer_for: Callable[[str], Signer]
) -> None:
    settings = Settings.of(pki=dev_pki.directory, agency_pattern=ONLY_G)
    data = signed(document(PROVINCE, [CENTRAL]), signer_for(PROVINCE))
    reason = _router_reason(settings, data)
    record = LogRecord("edx.submit", 0, 0, datetime.now(UTC), None, data)

    audited = audit_record(record, make_reader(settings))

    assert not audited.verified
    assert audited.reason_code == reason
    assert audited.signer_agency is None  # a refusal names no signer
    # The default pattern lets the same signed bytes through.
    assert audit_record(record, make_reader(Settings.of(pki=dev_pki.directory))).verified


@pytest.mark.kafka
@pytest.mark.slow
async def test_the_replay_agrees_with_the_router_under_a_custom_agency_pattern(
    bus_settings: Settings, dev_pki: DevPki, signer_for: Callable[[str], Signer]
) -> None:
    settings = bus_settings.with_overrides(pki=dev_pki.directory, agency_pattern=ONLY_G)
    await register(settings, signer_for, [CENTRAL, OFFICE, PROVINCE])
    accepted = document(CENTRAL, [OFFICE])
    off_pattern = signed(document(PROVINCE, [CENTRAL]), signer_for(PROVINCE))
    reason = _router_reason(settings, off_pattern)
    await submit(settings, signed(accepted, signer_for(CENTRAL)), sender=CENTRAL)
    await submit(settings, off_pattern, sender=PROVINCE)
    async with quick_router(settings) as router:
        await route(router, 2, within=120)
    events = [
        decode_event(r.value)
        for r in await read_topic(settings, settings.topics.events)
        if r.value is not None
    ]
    assert [e.reason_code for e in events if e.kind is EventKind.REJECTED] == [reason]
    await record_all(settings, len(events))

    report = await run_replay(settings)

    assert report.divergences == (), report.summary()
    assert (report.packages, report.verified) == (2, 1)
    assert report.unverified_reasons == {reason: 1}
    assert report.refusals == {reason: 1}
