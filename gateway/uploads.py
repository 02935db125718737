"""Request bodies streamed to disk with a size limit: a slow or large upload holds no memory."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.errors import BadRequestError, UploadTooLargeError

__all__ = ["read_limited"]

_IN_MEMORY = 256 * 1024


async def read_limited(
    chunks: AsyncIterator[bytes], limit: int, declared: str | None, spool_dir: Path
) -> bytes:
    """The whole body, refused as soon as it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before a byte is read;
    the body is spooled to a temporary file in ``spool_dir`` (which must exist) past
    256 KiB while it arrives.
    """
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequestError("Content-Length is not a number") from None
        if size > limit:
            raise UploadTooLargeError(limit)
    with tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY, dir=str(spool_dir)) as spool:
        total = 0
        async for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise UploadTooLargeError(limit)
            spool.write(chunk)
        spool.seek(0)
        data: bytes = spool.read()
        return data
