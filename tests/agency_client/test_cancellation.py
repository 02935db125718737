"""The SDK's waits end when their task is cancelled (Ctrl-C, a client's stop()).

Python 3.11's ``asyncio.wait_for`` returns the result, and drops the cancellation,
when the cancellation comes just as the awaited call completes (CPython gh-86296,
fixed in 3.12); a task of the client that lost its cancellation that way kept
running, its client's ``stop()`` waited for it, and ``edx inbox --follow`` did not
stop on Ctrl-C. The SDK waits with ``asyncio.timeout`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import agency_client

_PACKAGE = Path(agency_client.__file__).parent


def test_the_sdk_does_not_wait_with_asyncio_wait_for() -> None:
    users = [
        f"{path.name}:{number}"
        for path in sorted(_PACKAGE.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bwait_for\(", line) and not line.lstrip().startswith("#")
    ]
    assert users == [], f"asyncio.wait_for can lose a cancellation: {users}"


async def test_a_timeout_keeps_a_cancellation_that_comes_as_the_call_completes() -> None:
    """What the SDK relies on instead: the cancellation wins over the completed call."""
    done = asyncio.get_running_loop().create_future()

    async def wait() -> str:
        async with asyncio.timeout(5):
            return await done

    task = asyncio.create_task(wait())
    await asyncio.sleep(0)  # the task waits on the future
    done.set_result("answered")
    task.cancel()  # in the same loop iteration as the completion
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
