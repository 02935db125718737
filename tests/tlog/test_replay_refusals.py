"""A refused replay attempt (other bytes under an accepted DocumentId) is a step of the
document's trail, in the log and in the tracker: `edx replay` on that healthy system
finds no divergence, and the log names the refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bus import Settings, Tracker, audit_log, run_replay
from bus.tlog import Decision, log_store
from signing import DevPki, Signer
from tests.tlog._routed import routed_log

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def test_a_refused_replay_is_no_divergence(
    bus_settings: Settings,
    dev_pki: DevPki,
    signer_for: Callable[[str], Signer],
    tmp_path: Path,
) -> None:
    settings = bus_settings.with_overrides(pki=dev_pki.directory)
    routed = await routed_log(settings, signer_for, tmp_path)
    async with Tracker(settings) as tracker:
        deadline = asyncio.get_running_loop().time() + 60
        while tracker.stats.recorded < 4:  # SUBMITTED, DELIVERED, STATUS, REJECTED
            assert asyncio.get_running_loop().time() < deadline, "the tracker missed events"
            await tracker.step()
    report = await run_replay(settings)
    assert report.clean, report.summary()
    with log_store(settings, routed.log_settings) as store:
        decisions = [leaf.leaf.decision for leaf in store.leaves_of(routed.package.document_id)]
    assert decisions == [Decision.ACCEPTED, Decision.ACCEPTED, Decision.REFUSED]
    assert (await audit_log(settings, routed.log_settings)).ok
