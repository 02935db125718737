"""The real router, the tracker and the auditor's replay on one broker: what the
router routes the tracker records exactly once, even when the tracker is down for a
while, and the replay of edx.submit agrees with it, until someone edits the tracker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import delete

from bus.audit import DivergenceKind, run_replay
from bus.settings import Settings
from bus.store import create_store_engine, document_status, document_trail, track, upgrade
from bus.store.schema import deliveries
from bus.topics import ensure_topics
from edxml import StatusCode
from signing import DevPki, Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    register,
    route,
    signed,
    status,
    submit,
)
from tests.tracker.kafka_helpers import FAST, count_rows, running_tracker, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PROVINCE = "000.00.00.H41"
RECIPIENTS = ["000.00.01.H41", "000.00.02.H41", "000.00.20.H41", "000.01.20.H41", "001.01.20.H41"]


async def test_router_tracker_and_replay_agree(
    bus_settings: Settings,
    dev_pki: DevPki,
    signer_for: Callable[[str], Signer],
    sqlite_url: str,
) -> None:
    settings = bus_settings.with_values(pki=dev_pki.directory, db_url=sqlite_url)
    await ensure_topics(settings)
    await register(settings, signer_for, [PROVINCE, *RECIPIENTS])
    upgrade(sqlite_url)
    reader = create_store_engine(sqlite_url)
    directive = document(PROVINCE, RECIPIENTS, subject="Chỉ thị phòng chống lụt bão")
    answers = [(r, StatusCode.ARRIVED) for r in RECIPIENTS] + [
        (RECIPIENTS[0], StatusCode.ACCEPTED),
        (RECIPIENTS[0], StatusCode.COMPLETED),
        (RECIPIENTS[1], StatusCode.REFUSED),
    ]
    try:
        async with quick_router(settings) as router:
            await submit(
                settings,
                signed(directive, signer_for(PROVINCE)),
                sender=PROVINCE,
                document_id=directive.document_id,
            )
            async with running_tracker(settings):
                await route(router, 1)
                await wait_for(
                    lambda: count_rows(reader) == 1 + len(RECIPIENTS), what="the directive recorded"
                )
            # The tracker is down; the router keeps working.
            for agency, code in answers:
                await submit(
                    settings,
                    signed(status(agency, directive, code), signer_for(agency)),
                    sender=agency,
                    document_id=directive.document_id,
                    kind="status",
                )
            await route(router, 1 + len(answers))
        expected = 1 + len(RECIPIENTS) + len(answers)
        # This time with names from the agency directory on edx.agencies.
        with_names = replace(FAST, use_directory=True)
        async with running_tracker(settings, with_names) as tracker:
            await wait_for(lambda: count_rows(reader) == expected, what="every step recorded")
        assert tracker.stats.recorded == len(answers)
        assert count_rows(reader) == expected

        result = document_status(reader, directive.document_id)
        assert result.totals["01"] == 3
        assert result.totals["06"] == 1
        assert result.totals["02"] == 1
        assert {r.recipient: r.level for r in result.recipients} == {
            RECIPIENTS[0]: 2,
            RECIPIENTS[1]: 2,
            RECIPIENTS[2]: 2,
            RECIPIENTS[3]: 3,
            RECIPIENTS[4]: 4,
        }
        [under] = track(reader)
        assert (under.total.delivered, under.total.arrived, under.total.completed) == (5, 5, 1)
        assert document_trail(reader, directive.document_id).check.intact
        assert {r.name for r in result.recipients if r.steps} == {
            f"Agency {code}" for code in RECIPIENTS
        }

        report = await run_replay(settings)
        assert report.divergences == ()
        assert (report.packages, report.verified, report.documents) == (
            1 + len(answers),
            1 + len(answers),
            1,
        )

        with reader.begin() as connection:
            connection.execute(delete(deliveries).where(deliveries.c.recipient == RECIPIENTS[3]))
        tampered = await run_replay(settings)
        missing = [d for d in tampered.divergences if d.kind is DivergenceKind.MISSING]
        assert {d.recipient for d in missing} == {RECIPIENTS[3]}
    finally:
        reader.dispose()
