"""A refused replay attempt (other bytes under an accepted DocumentId) is a step of the
document's trail, in the log and in the tracker: `edx replay` on that healthy system
finds no divergence, and the log names the refusal."""

from __future__ import annotations

import asyncio

import pytest

from bus import audit_log, run_replay
from bus.tlog import Decision, log_store
from bus.topics import broker_applies_log_append_time
from bus.tracker import Tracker
from tests.tlog._routed import RoutedLog

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def test_a_refused_replay_is_no_divergence(routed: RoutedLog) -> None:
    settings = routed.settings
    async with Tracker(settings) as tracker:
        deadline = asyncio.get_running_loop().time() + 60
        while tracker.stats.recorded < 4:  # SUBMITTED, DELIVERED, STATUS, REJECTED
            assert asyncio.get_running_loop().time() < deadline, "the tracker missed events"
            await tracker.step()
    report = await run_replay(settings)  # no transparency log at $EDX_HOME/log.db
    assert report.clean, report.summary()
    assert report.log_note == "no transparency log found"
    # Without a log, a broker that keeps producers' times leaves only those: said so.
    applies = await broker_applies_log_append_time(settings)
    assert report.producer_timed == (0 if applies else report.packages), report.summary()
    if not applies:
        assert "verified at the producer's time" in report.summary()
    logged = await run_replay(settings, log_settings=routed.log_settings)
    assert logged.clean, logged.summary()
    assert (logged.log_leaves, logged.log_checkpoint) == (3, 3)
    assert logged.producer_timed == 0  # each dated by its time-stamped checkpoint
    assert logged.refusals == {"replay": 1}, logged.refusals
    with log_store(settings, routed.log_settings) as store:
        decisions = [leaf.leaf.decision for leaf in store.leaves_of(routed.package.document_id)]
    assert decisions == [Decision.ACCEPTED, Decision.ACCEPTED, Decision.REFUSED]
    assert (await audit_log(settings, routed.log_settings)).ok
