"""Where an agency code sits in the four-level tree (DOMAIN.md §1), for storage and cuts.

A code ``G1.G2.G3.G4`` (lengths 3.2.2.3) has its level at the lowest non-zero group
and its parent at the same code with that group zeroed. The tracker stores each
recipient's groups so that a subtree ("under ``000.00.00.H41``") is a plain equality
filter on indexed columns. Codes outside the pattern (test hubs use ``vxp.saas.03``)
have no placement: they are stored and shown, but no level or subtree cut selects them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edxml import AgencyCode

__all__ = ["Placement", "place"]


@dataclass(frozen=True)
class Placement:
    """An agency's level (1-4), level-1 unit (G4), groups and parent code."""

    code: str
    level: int
    unit: str
    g3: str
    g2: str
    g1: str
    parent: str | None

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
    """The placement of ``code``, or ``None`` when it is not a four-group agency code.

    Level and parent come from :class:`edxml.AgencyCode`, the one derivation of
    DOMAIN.md §1 the whole project shares.
    """
    agency = AgencyCode(code)
    groups = agency.groups
    if groups is None:
        return None
    g1, g2, g3, unit = groups
    parent = agency.parent
    return Placement(
        code=code,
        level=agency.level,
        unit=unit,
        g3=g3,
        g2=g2,
        g1=g1,
        parent=None if parent is None else str(parent),
    )
