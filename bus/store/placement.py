"""Where an agency code sits in the four-level tree (DOMAIN.md §1), for storage and cuts.

A code ``G1.G2.G3.G4`` (lengths 3.2.2.3) has its level at the lowest non-zero group
and its parent at the same code with that group zeroed. The tracker stores each
recipient's groups so that a subtree ("under ``000.00.00.H41``") is a plain equality
filter on indexed columns. Codes outside the pattern (test hubs use ``vxp.saas.03``)
have no placement: they are stored and shown, but no level or subtree cut selects them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Placement", "place"]

_CODE = re.compile(r"^(\d{3})\.(\d{2})\.(\d{2})\.([A-Z]\d{2})$")


@dataclass(frozen=True)
class Placement:
    """An agency's level (1-4), level-1 unit (G4), groups and parent code."""

    code: str
    level: int
    unit: str
    g3: str
    g2: str
    g1: str

    @property
    def parent(self) -> str | None:
        """The code one level up, or ``None`` for a level-1 unit."""
        if self.level == 1:
            return None
        groups = [self.g1, self.g2, self.g3]
        lowest = 4 - self.level  # level 4 zeroes G1, level 3 G2, level 2 G3
        groups[lowest] = "0" * len(groups[lowest])
        return f"{groups[0]}.{groups[1]}.{groups[2]}.{self.unit}"

    def contains(self, other: Placement) -> bool:
        """Whether ``other`` is this agency or one below it."""
        if other.unit != self.unit or other.level < self.level:
            return False
        if self.level >= 2 and other.g3 != self.g3:
            return False
        if self.level >= 3 and other.g2 != self.g2:
            return False
        return not (self.level >= 4 and other.g1 != self.g1)


def place(code: str) -> Placement | None:
    """The placement of ``code``, or ``None`` when it is not a standard agency code."""
    match = _CODE.match(code)
    if match is None:
        return None
    g1, g2, g3, unit = match.groups()
    if int(g1):
        level = 4
    elif int(g2):
        level = 3
    elif int(g3):
        level = 2
    else:
        level = 1
    return Placement(code=code, level=level, unit=unit, g3=g3, g2=g2, g1=g1)
