"""Faults at seeded random moments against real processes: nothing lost, nothing twice.

Each scenario prints one line (sent / faults / lost / twice / recovery seconds and
the figures behind them) and asserts lost = 0, twice = 0, that no forged
document reached an application, and that the sender's outbox settled (every 01
came back, so documents keep flowing). Replay a run with ``EDX_CHAOS_SEED=<seed>``.
``python -m bench.bench_chaos`` runs the same scenarios at a larger size.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from signing import DevPki
from tests.chaos.harness import Size
from tests.chaos.scenarios import run_scenario

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.slow]

#: Small enough for CI (two cores), large enough that every fault lands mid-burst.
CI_SIZE = Size(documents=16, faults=3, recipients=2, hostile=1000, wait_seconds=75)


def chaos_seed() -> int:
    given = os.environ.get("EDX_CHAOS_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


@pytest.mark.parametrize(
    "name",
    [
        "router-kill",
        "tracker-kill",
        "sender-kill",
        "receiver-kill",
        "broker-loss",
        pytest.param("database-cut", marks=pytest.mark.postgres),
        "hostile",
    ],
)
async def test_a_fault_loses_no_document_and_hands_none_over_twice(
    name: str, tmp_path: Path, dev_pki: DevPki, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = chaos_seed()
    with capsys.disabled():
        print(f"\nchaos {name}: seed={seed} (replay with EDX_CHAOS_SEED={seed})", flush=True)
    outcome, tails = await run_scenario(name, tmp_path, dev_pki, CI_SIZE, seed)
    with capsys.disabled():
        print(outcome.line(), flush=True)
    deliveries = outcome.deliveries
    figures = f"{outcome.line()}\nfirst missing: {deliveries.missing}\n{tails}"
    assert deliveries.sent == CI_SIZE.documents, figures
    assert deliveries.lost == 0, figures
    assert deliveries.twice == 0, figures
    assert deliveries.unknown == 0, figures
    assert outcome.extra["pending"] == 0, f"the sender's outbox never settled: {figures}"
