"""Fault injection at scale: the tests/chaos scenarios with more documents and faults.

Real processes on a Tansu broker started per scenario: ``edx router run``, ``edx
tracker run``, a sending agency and its recipients as application processes
(``tests.chaos.agency_app``). Each scenario prints one line: sent, faults, lost,
delivered twice, recovery seconds (the longest wait, after a part came back, for
its next progress), and the time to settle every document (``elapsed_s``) beside
the same run's floor, the ``no-fault`` scenario. Faults come at seeded random
moments; the seed is printed, and ``--seed`` replays it.

    .venv/bin/python -m bench.bench_chaos [--documents N] [--faults K] [--hostile H]
        [--recipients R] [--resubmit-after S] [--wait S] [--seed S] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path

from signing import DevPki
from tests.chaos.harness import AGENCIES, Size
from tests.chaos.scenarios import SCENARIOS, run_scenario


def _pki(directory: Path) -> DevPki:
    pki = DevPki.init(directory / "pki")
    for code in AGENCIES:
        pki.issue(code, f"Agency {code}")
    return pki


async def run(names: list[str], size: Size, seed: int) -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="edx-bench-chaos-") as tmp:
        base = Path(tmp)
        pki = await asyncio.to_thread(_pki, base)
        for name in names:
            workdir = base / name
            workdir.mkdir()
            outcome, _tails = await run_scenario(name, workdir, pki, size, seed)
            print(outcome.line(), flush=True)
            d = outcome.deliveries
            if d.lost or d.twice or d.unknown or outcome.extra.get("pending") != 0:
                failures += 1
    return failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"any of {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--faults", type=int, default=8)
    parser.add_argument("--hostile", type=int, default=5000)
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--wait", type=float, default=300.0)
    parser.add_argument("--resubmit-after", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv if argv is not None else [])
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    size = Size(
        documents=args.documents,
        faults=args.faults,
        recipients=args.recipients,
        hostile=args.hostile,
        wait_seconds=args.wait,
        resubmit_after=args.resubmit_after,
    )
    print(
        f"chaos: seed={seed} documents={size.documents} faults={size.faults} "
        f"recipients={size.recipients} hostile={size.hostile} "
        f"resubmit_after={size.resubmit_after}",
        flush=True,
    )
    failures = asyncio.run(run(names, size, seed))
    print(f"chaos: {failures} of {len(names)} scenarios broke a promise", flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
