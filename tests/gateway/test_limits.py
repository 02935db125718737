"""Limits: uploads stream to a spool with a size limit; request rates per system."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import UploadTooLargeError
from gateway.uploads import read_limited


async def _chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


async def test_a_body_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    body = await read_limited(_chunks(40, 10_000), 400_000, None, tmp_path)
    assert len(body) == 400_000


async def test_a_body_without_length_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLargeError, match="larger than the limit of 100000 bytes"):
        await read_limited(_chunks(1_000_000, 1000), 100_000, None, tmp_path)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""

    with pytest.raises(UploadTooLargeError):
        await read_limited(never(), 10, "11", tmp_path)


def test_a_system_over_its_rate_is_refused_then_admitted_again() -> None:
    from gateway import RateLimitedError
    from gateway.limits import RateLimiter

    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("vp.tinh")
    with pytest.raises(RateLimitedError, match="more than 2 requests a second"):
        limiter.take("vp.tinh")
    limiter.take("vp.huyen")  # each system has its own bucket
    now[0] += 0.5
    limiter.take("vp.tinh")
    with pytest.raises(RateLimitedError):
        limiter.take("vp.tinh")
