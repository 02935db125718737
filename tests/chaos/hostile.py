"""Hostile records written straight to ``edx.submit``, as an agency with write access could.

The mix: garbage bytes, truncated signed packages, oversized records (over the
router's package limit, and over what its producer may write again), and forged
packages: signed by a real agency while claiming to be the victim (the sender of
the scenario), or signed by the victim and altered after. Every record is keyed
with a code (mostly the victim's), so the forged keys land in the victim's
partition, in front of its real documents.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bus import Header, Settings, content_digest, encode_headers, make_producer
from edxml import build, new_document
from signing import DevPki
from tests.chaos.harness import FORGER, SENDER

__all__ = ["HostileMix", "HostileRecords", "write_hostile"]

_FORGED_VARIANTS = 12
_BATCH = 100


@dataclass(frozen=True)
class HostileMix:
    counts: dict[str, int]

    def describe(self) -> str:
        return ",".join(f"{k}:{v}" for k, v in sorted(self.counts.items()))


def _package(
    pki: DevPki,
    signer: str,
    recipients: Sequence[str],
    notation: str,
    number: int,
    *,
    claim: str = SENDER,
) -> bytes:
    document = new_document(
        claim,
        list(recipients),
        number=str(number),
        notation=notation,
        subject="Văn bản giả mạo",
        signer_name="Trần Văn B",
    )
    return pki.signer(signer).sign(build(document), check_sender=False)


def _records(
    pki: DevPki, rng: random.Random, count: int, recipients: Sequence[str], limit: int
) -> list[tuple[str, bytes, str]]:
    """``count`` (kind, value, key) triples in a seeded random order."""
    forged = [_package(pki, FORGER, recipients, "FORGED", n) for n in range(_FORGED_VARIANTS)]
    genuine = _package(pki, SENDER, recipients, "ALTERED", 1)
    altered = genuine.replace("giả mạo".encode(), "sửa đổi".encode())
    oversized = max(1, count // 500)
    records: list[tuple[str, bytes, str]] = [
        ("oversized", b"<" + rng.randbytes(3 * limit), SENDER) for _ in range(oversized)
    ]
    keys = [SENDER, SENDER, SENDER, *recipients, "000.99.99.Z99", ""]
    while len(records) < count:
        roll = rng.random()
        if roll < 0.35:
            records.append(("garbage", rng.randbytes(rng.randint(1, 4096)), rng.choice(keys)))
        elif roll < 0.6:
            cut = rng.randint(1, len(genuine) - 1)
            records.append(("truncated", genuine[:cut], SENDER))
        elif roll < 0.9:
            records.append(("forged", rng.choice(forged), SENDER))
        else:
            records.append(("altered", altered, SENDER))
    rng.shuffle(records)
    # The oversized ones come first, so real documents certainly queue behind them.
    records.sort(key=lambda r: r[0] != "oversized")
    return records


class HostileRecords:
    """``count`` hostile records, made up front, written in as many waves as asked."""

    def __init__(self, records: list[tuple[str, bytes, str]]) -> None:
        self.records = records
        self.mix = HostileMix(dict(Counter(kind for kind, _, _ in records)))

    @classmethod
    async def make(
        cls,
        settings: Settings,
        pki: DevPki,
        rng: random.Random,
        count: int,
        recipients: Sequence[str],
    ) -> HostileRecords:
        limit = settings.packages.max_package_bytes
        return cls(await asyncio.to_thread(_records, pki, rng, count, recipients, limit))

    def waves(self, count: int) -> list[list[tuple[str, bytes, str]]]:
        size = -(-len(self.records) // count)
        return [self.records[i : i + size] for i in range(0, len(self.records), size)]


async def write_hostile(settings: Settings, records: Sequence[tuple[str, bytes, str]]) -> None:
    """Write hostile records as fast as the broker takes them."""
    room = 4 * settings.packages.max_package_bytes  # the oversized ones must reach the broker
    producer = make_producer(settings.with_overrides(max_package_bytes=room))
    await producer.start()
    try:
        for start in range(0, len(records), _BATCH):
            sends = []
            for _kind, value, key in records[start : start + _BATCH]:
                headers = encode_headers(
                    {
                        Header.KIND: "document",
                        Header.SENDER: SENDER,
                        Header.DIGEST: content_digest(value),
                    }
                )
                sends.append(
                    await producer.send(
                        settings.topics.submit,
                        value=value,
                        key=key.encode() or None,
                        headers=headers,
                    )
                )
            await asyncio.gather(*sends)
    finally:
        await producer.stop()
