"""Agency codes (mã định danh, QĐ 20/2020/QĐ-TTg): parse, validate, level, ancestry.

A code has four dot-separated groups ``G1.G2.G3.G4`` of lengths 3.2.2.3. ``G4`` is
the level-1 unit (a capital letter and two digits: ``G`` ministries, ``H``
provinces); ``G3``, ``G2`` and ``G1`` name the units of levels 2, 3 and 4, zeros
where unused. The level and the parent follow from the code itself, so the bus
can cut every view by level and by subtree without asking a registry.

Real test systems use other identifiers (``vxp.saas.03``), so the validating
pattern is configurable. A code accepted by a custom pattern but without the four
groups is treated as a level-1 unit of its own: it has no parent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from edxml.errors import InvalidAgencyCodeError

__all__ = ["DEFAULT_AGENCY_PATTERN", "AgencyCode"]

#: The pattern of QĐ 20/2020: ``000.00.00.G22``.
DEFAULT_AGENCY_PATTERN = r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"

_FOUR_GROUPS = re.compile(r"^(\d{3})\.(\d{2})\.(\d{2})\.([A-Z]\d{2})$", re.ASCII)


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    # ASCII: \d must not accept other scripts' digits (٠٠٠.٠٠.٠٠.G22).
    return re.compile(pattern, re.ASCII)


@dataclass(frozen=True, slots=True, order=True)
class AgencyCode:
    """One agency code, validated. ``str(code)`` gives it back as written."""

    code: str

    @classmethod
    def parse(cls, text: str, pattern: str | None = None) -> AgencyCode:
        """Validate ``text`` against ``pattern`` (default :data:`DEFAULT_AGENCY_PATTERN`).

        Raises :class:`~edxml.errors.InvalidAgencyCodeError` when it does not match.
        """
        candidate = text.strip()
        if not candidate or not _compiled(pattern or DEFAULT_AGENCY_PATTERN).fullmatch(candidate):
            raise InvalidAgencyCodeError(text)
        return cls(candidate)

    @classmethod
    def is_valid(cls, text: str, pattern: str | None = None) -> bool:
        """True when ``text`` matches the pattern; never raises."""
        return bool(text) and bool(_compiled(pattern or DEFAULT_AGENCY_PATTERN).fullmatch(text))

    def __str__(self) -> str:
        return self.code

    @property
    def groups(self) -> tuple[str, str, str, str] | None:
        """``(G1, G2, G3, G4)`` for a standard code, None for another form."""
        match = _FOUR_GROUPS.fullmatch(self.code)
        if match is None:
            return None
        g1, g2, g3, g4 = match.groups()
        return g1, g2, g3, g4

    @property
    def is_standard(self) -> bool:
        """True when the code has the four groups of QĐ 20/2020."""
        return self.groups is not None

    @property
    def level(self) -> int:
        """1 (ministry, province) to 4 (commune level): the lowest non-zero group."""
        groups = self.groups
        if groups is None:
            return 1
        g1, g2, g3, _ = groups
        if int(g1):
            return 4
        if int(g2):
            return 3
        if int(g3):
            return 2
        return 1

    @property
    def level1_unit(self) -> str:
        """``G4``: the ministry or province the agency belongs to."""
        groups = self.groups
        return groups[3] if groups is not None else self.code

    @property
    def parent(self) -> AgencyCode | None:
        """The code with the lowest non-zero group set to zeros; None at level 1."""
        groups = self.groups
        if groups is None:
            return None
        level = self.level
        if level == 1:
            return None
        parts = list(groups)
        index = 4 - level  # level 4 -> G1 (index 0), level 2 -> G3 (index 2)
        parts[index] = "0" * len(parts[index])
        return AgencyCode(".".join(parts))

    @property
    def ancestors(self) -> tuple[AgencyCode, ...]:
        """Parent, grandparent, ... up to the level-1 unit, nearest first."""
        chain: list[AgencyCode] = []
        current = self.parent
        while current is not None:
            chain.append(current)
            current = current.parent
        return tuple(chain)

    def is_under(self, other: AgencyCode | str, *, inclusive: bool = False) -> bool:
        """True when ``other`` is an ancestor of this code (or the code itself, if inclusive)."""
        other_code = other.code if isinstance(other, AgencyCode) else other
        if inclusive and other_code == self.code:
            return True
        return any(ancestor.code == other_code for ancestor in self.ancestors)
