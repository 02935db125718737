"""The fault scenarios, each a coroutine over a :class:`ChaosBus` of a given size.

Every scenario draws its fault moments from ``random.Random(seed)``: the seed is
printed with the figures, so a failing run can be replayed (``EDX_CHAOS_SEED``).
Faults are placed by progress (after the sender's n-th document) rather than by
the clock, so a slow machine moves them in time but not in the burst.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from signing import DevPki
from tests.chaos.harness import ALL, SENDER, TRACKER, ChaosBus, Outcome, Size
from tests.chaos.hostile import HostileRecords, write_hostile
from tests.chaos.processes import resident_megabytes

__all__ = ["SCENARIOS", "run_scenario"]

Scenario = Callable[[ChaosBus, random.Random], Awaitable[dict[str, object]]]


def _moments(rng: random.Random, size: Size, count: int) -> list[int]:
    """After which sent documents the faults come (distinct, in order)."""
    room = range(1, max(2, size.documents))
    return sorted(rng.sample(room, k=min(count, len(room))))


async def _kill_repeatedly(
    bus: ChaosBus, rng: random.Random, pick: Callable[[], str], watch: Callable[[str], str]
) -> None:
    bus.start_sender()
    for moment in _moments(rng, bus.size, bus.size.faults):
        await bus.wait_sent(moment)
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        name = pick()
        at = time.time()
        bus.processes[name].kill()
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        bus.processes[name].start()
        bus.record_fault(f"kill -9 {name}", at, watch=watch(name))


async def no_fault(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    """The floor: the same burst with nothing going wrong."""
    bus.start_sender()
    return {}


async def router_killed(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    await _kill_repeatedly(bus, rng, lambda: "router", lambda _: ALL)
    return {}


async def tracker_killed(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    bus.watch_tracker = True
    await _kill_repeatedly(bus, rng, lambda: "tracker", lambda _: TRACKER)
    return {}


async def sender_killed(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    await _kill_repeatedly(bus, rng, lambda: SENDER, lambda _: ALL)
    return {}


async def receiver_killed(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    await _kill_repeatedly(bus, rng, lambda: rng.choice(bus.recipients), lambda code: code)
    return {}


async def broker_lost(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    """The broker restarts empty (Tansu keeps everything in memory) in mid-burst, as often
    as the size says; the new broker gets its topics and directory back as from ``edx up``.

    One recipient's application is offline across each restart (killed with the broker,
    back a few seconds after it): its inbox held copies it had not read, which only
    the senders' outboxes and the router can bring back.
    """
    bus.start_sender()
    for moment in _moments(rng, bus.size, max(1, bus.size.faults // 3)):
        await bus.wait_sent(moment)
        # In mid-flow: documents already reached applications, so answers and copies
        # are in the broker's hands when it goes (a loss before the router's first
        # delivery tests only a slow start).
        await bus.wait_for(lambda: bus.progress()[ALL] > 0, within=bus.size.wait_seconds)
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        offline = bus.processes[rng.choice(bus.recipients)]
        at = time.time()
        offline.kill()
        bus.broker.stop()
        await asyncio.sleep(rng.uniform(1.0, 6.0))  # as long as an `edx up` restart
        bus.broker.start()
        await bus.prepare_broker()
        bus.record_fault("broker restarted empty", at)
        await asyncio.sleep(rng.uniform(2.0, 5.0))
        offline.start()
    return {}


async def database_cut(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    """Every connection of the router and the tracker to PostgreSQL is cut for a few
    seconds, then the database answers again (the server itself never stops)."""
    bus.watch_tracker = True
    bus.start_sender()
    for moment in _moments(rng, bus.size, bus.size.faults):
        await bus.wait_sent(moment)
        at = time.time()
        for proxy in bus.proxies:
            await proxy.cut()
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        for proxy in bus.proxies:
            await proxy.restore()
        bus.record_fault("database connections cut", at)
    return {}


async def hostile_records(bus: ChaosBus, rng: random.Random) -> dict[str, object]:
    """``size.hostile`` hostile records straight to ``edx.submit`` in waves between the
    sender's documents, so real documents queue behind hostile ones in its partition."""
    router = bus.processes["router"]
    hostile = await HostileRecords.make(
        bus.settings, bus.pki, rng, bus.size.hostile, bus.recipients
    )
    waves = hostile.waves(HOSTILE_WAVES)
    bus.start_sender()
    await bus.wait_sent(1)
    await bus.wait_for(lambda: bus.progress()[ALL] > 0, within=bus.size.wait_seconds)
    before = resident_megabytes(router.pid)
    at = time.time()
    moments = _moments(rng, bus.size, len(waves))
    for moment, wave in zip(moments, waves, strict=False):
        await bus.wait_sent(moment)
        await write_hostile(bus.settings, wave)
    bus.record_fault(f"{bus.size.hostile} hostile records", at)
    await bus.wait_for(bus.sender_done, within=bus.size.wait_seconds)
    after = resident_megabytes(router.pid)
    return {
        "mix": hostile.mix.describe(),
        "router_rss_mb": f"{_mb(before)}->{_mb(after)}",
    }


def _mb(value: float | None) -> str:
    return "gone" if value is None else f"{value:.0f}"


#: name -> (scenario, needs PostgreSQL, whether the tracker must have everything too)
SCENARIOS: dict[str, tuple[Scenario, bool, bool]] = {
    "no-fault": (no_fault, False, True),
    "router-kill": (router_killed, False, False),
    "tracker-kill": (tracker_killed, False, True),
    "sender-kill": (sender_killed, False, False),
    "receiver-kill": (receiver_killed, False, False),
    "broker-loss": (broker_lost, False, False),
    "database-cut": (database_cut, True, True),
    "hostile": (hostile_records, False, False),
}

#: The hostile records come in this many waves between the sender's documents.
HOSTILE_WAVES = 4
#: The sender's pause between documents under hostile traffic: the waves of hostile
#: records land between its documents rather than after the last one.
HOSTILE_PAUSE = 0.3
#: The hostile scenario's package limit: small, so an oversized record is cheap to make.
HOSTILE_MAX_PACKAGE_BYTES = 1024 * 1024


async def run_scenario(
    name: str, workdir: Path, pki: DevPki, size: Size, seed: int
) -> tuple[Outcome, str]:
    """Run one scenario; its outcome and the tails of the processes' logs (for a failure)."""
    scenario, postgres, tracker = SCENARIOS[name]
    limit = None
    if name == "hostile":
        limit = HOSTILE_MAX_PACKAGE_BYTES
        size = dataclasses.replace(size, pause=max(size.pause, HOSTILE_PAUSE))
    rng = random.Random(seed)
    async with ChaosBus(workdir, pki, size, postgres=postgres, max_package_bytes=limit) as bus:
        extra = await scenario(bus, rng)
        await bus.settle(tracker=tracker)
        outcome = bus.outcome(name, seed, **extra)
        return outcome, bus.tails()
