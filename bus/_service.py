"""``async with`` for the bus's services: start on entry, stop on exit.

Each service (the router, the tracker, the log, the directory follower, the
embedded stack) has explicit ``start()`` and ``stop()``, as aiokafka's clients do,
and is also an async context manager. :class:`AsyncService` writes that context
manager once. It holds no state and shares none: it only calls the two methods
the service defines itself.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["AsyncService"]


class _StartStop(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


_S = TypeVar("_S", bound=_StartStop)


class AsyncService:
    """``async with service:`` is ``await service.start()`` … ``await service.stop()``."""

    __slots__ = ()

    async def __aenter__(self: _S) -> _S:
        await self.start()
        return self

    async def __aexit__(self: _StartStop, *exc_info: object) -> None:
        await self.stop()
