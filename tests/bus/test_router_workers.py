"""The router's worker processes decide exactly as the router's own process does.

With ``workers`` > 1 the CPU work (signature, strict parse) runs in spawned
processes and only plain values come back; every refusal must keep its class,
its reason code, its message and who it can be held to, and the order of a
batch must be that of its records. Real processes, real signatures.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.directory import Agency, AgencyDirectory
from bus.router.checker import CheckedPackage, PackageChecker, Refused
from bus.router.workers import CheckPool
from bus.settings import Settings
from bus.verification import make_reader
from edxml import StatusCode, build
from signing import DevPki, Signer
from tests.bus.routing_helpers import (
    document,
    quick_router,
    read_topic,
    register,
    route,
    signed,
    status,
    submit,
)

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
OTHER = "000.00.00.H44"


def _records(signer_for: Callable[[str], Signer], forger: Signer) -> list[bytes | None]:
    sent = document(SENDER, [RECIPIENT])
    good = signed(sent, signer_for(SENDER))
    unsigned = build(document(SENDER, [RECIPIENT]))
    return [
        good,
        signed(status(RECIPIENT, sent, StatusCode.ARRIVED), signer_for(RECIPIENT)),
        None,
        b"",
        b"\x00\xff not xml",
        good[: len(good) // 2],
        good.replace(b"UBND-VP", b"UBND-XX"),  # altered after signing
        forger.sign(unsigned),  # a key no trust anchor vouches for
        signed(document(SENDER, ["000.00.00.Z99"]), signer_for(SENDER)),  # unknown recipient
        signed(document(SENDER, [OTHER]), signer_for(RECIPIENT)),  # signer is not the sender
        b"<x>" + b"A" * 2048 + b"</x>",  # over the limit below
        good,
    ]


def _summary(outcome: CheckedPackage | Refused) -> tuple[object, ...]:
    if isinstance(outcome, CheckedPackage):
        return (
            "checked",
            outcome.sender,
            outcome.fingerprint,
            outcome.digest,
            outcome.package.document_id,
            type(outcome.package).__name__,
        )
    error = outcome.error
    return (
        "refused",
        type(error),
        error.reason_code,
        str(error),
        outcome.signer,
        dict(vars(error)).keys(),
    )


async def test_worker_processes_read_exactly_as_the_router_process(
    pki_dir: Path, signer_for: Callable[[str], Signer], tmp_path: Path
) -> None:
    forger = DevPki.init(tmp_path / "forger")
    forger.issue(SENDER, "Forged")
    values = _records(signer_for, forger.signer(SENDER))
    # One value over a smaller limit, so the size refusal is exercised too.
    settings = Settings.of(
        home=tmp_path,
        pki=pki_dir,
        max_package_bytes=max(len(v) for v in values if v and not v.startswith(b"<x>")) + 100,
    )
    directory = AgencyDirectory(
        Agency.new(code, code, cert_fingerprints=[signer_for(code).fingerprint])
        for code in (SENDER, RECIPIENT, OTHER)
    )
    local = PackageChecker(
        make_reader(settings), max_package_bytes=settings.packages.max_package_bytes
    )
    expected = [_summary(local.outcome(v, directory)) for v in values]
    pool = CheckPool(settings, 2, local)
    try:
        await pool.start()
        reads = await pool.read(values)
    finally:
        await asyncio.to_thread(pool.close)
    got = [_summary(local.judge(v, r, directory)) for v, r in zip(values, reads, strict=True)]
    assert got == expected
    kinds = [s[0] for s in expected]
    assert kinds[:2] == ["checked", "checked"]
    assert kinds[-1] == "checked"
    assert kinds[2:-1] == ["refused"] * (len(values) - 3)
    assert expected[8][4] == SENDER  # a verified, bound signature: its agency is told
    assert expected[7][4] is None  # a forged key: nobody is


@pytest.mark.kafka
@pytest.mark.slow
async def test_router_with_workers_keeps_each_senders_order(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer]
) -> None:
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    values = [signed(document(SENDER, [RECIPIENT]), signer_for(SENDER)) for _ in range(41)]
    async with quick_router(settings, workers=2) as router:
        assert router.workers == 2
        # The first batch is read in the router and starts the workers meanwhile.
        await submit(settings, values[0], sender=SENDER)
        await route(router, 1, within=60)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not router.workers_ready:  # read on the workers, not in the router
            assert loop.time() < deadline, "the worker processes did not start"
            await asyncio.sleep(0.1)
        for value in values[1:]:
            await submit(settings, value, sender=SENDER)
        await route(router, len(values), within=120)
    assert router.stats.rejected == 0
    copies = await read_topic(settings, settings.topics.inbox(RECIPIENT))
    assert [c.value for c in copies] == values  # one sender: one partition, in order


_ORPHAN_PROBE = """
import asyncio, sys
from pathlib import Path
from bus.router.checker import PackageChecker
from bus.router.workers import CheckPool
from bus.settings import Settings
from bus.verification import make_reader

async def main() -> None:
    settings = Settings.of(home=Path(sys.argv[1]), pki=Path(sys.argv[2]))
    local = PackageChecker(make_reader(settings), max_package_bytes=1 << 20)
    pool = CheckPool(settings, 2, local)
    await pool.start()
    # Two shares at once: both workers busy, as under load.
    await pool.read([b"<x/>"] * 400)
    print("ready", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
async def test_workers_end_with_a_router_killed_by_sigkill(pki_dir: Path, tmp_path: Path) -> None:
    router = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _ORPHAN_PROBE,
        str(tmp_path),
        str(pki_dir),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert router.stdout is not None
        assert await asyncio.wait_for(router.stdout.readline(), 60) == b"ready\n"
        workers = _children(router.pid)
        assert len(workers) >= 2  # the workers (and multiprocessing's resource tracker)
        assert all(_alive(pid) for pid in workers)
    finally:
        router.send_signal(signal.SIGKILL)
        await router.wait()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while any(_alive(pid) for pid in workers):
        assert loop.time() < deadline, "worker processes outlived their router"
        await asyncio.sleep(0.1)
