"""The agency directory as the gateway shows it: followed from ``edx.agencies``."""

from __future__ import annotations

import contextlib

from bus import Agency, DirectoryFollower, Settings, publish_agency, suspend_agency
from edxml.errors import EdxbusError
from gateway.errors import BadRequestError, UnavailableError

__all__ = ["DirectoryView"]


class DirectoryView:
    """The directory, followed in the background once started."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._follower: DirectoryFollower | None = None

    async def _ready(self) -> DirectoryFollower:
        if self._follower is None:
            follower = DirectoryFollower(self._settings, follow=True)
            try:
                await follower.start()
            except EdxbusError as exc:
                with contextlib.suppress(Exception):
                    await follower.stop()
                raise UnavailableError(f"the directory cannot be read: {exc}") from exc
            self._follower = follower
        return self._follower

    async def stop(self) -> None:
        """Stop following."""
        if self._follower is not None:
            follower, self._follower = self._follower, None
            with contextlib.suppress(Exception):
                await follower.stop()

    async def agencies(self, *, include_inactive: bool = False) -> list[Agency]:
        """The agencies, by level and code (active ones only unless asked)."""
        follower = await self._ready()
        return [a for a in follower.directory.all() if include_inactive or a.active]

    async def unknown(self, codes: tuple[str, ...]) -> list[str]:
        """Which of ``codes`` the directory does not hold as active agencies.

        When the directory cannot be read (the bus is down) nothing is called unknown:
        the package is kept and the router judges it once the bus is back.
        """
        try:
            follower = await self._ready()
        except UnavailableError:
            return []
        directory = follower.directory
        return [c for c in codes if (a := directory.get(c)) is None or not a.active]

    async def register(self, code: str, name: str) -> Agency:
        """Add an agency to the directory (granted systems only)."""
        try:
            agency = Agency.new(code, name, pattern=self._settings.packages.agency_pattern)
        except EdxbusError as exc:
            raise BadRequestError(f"the agency cannot be registered: {exc}") from exc
        return await publish_agency(self._settings, agency)

    async def suspend(self, code: str) -> Agency:
        """Suspend an agency in the directory (granted systems only)."""
        return await suspend_agency(self._settings, code)
