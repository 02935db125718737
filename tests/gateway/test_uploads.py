"""Uploads stream to a spool with a size limit, declared or not."""

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
