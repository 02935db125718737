"""The problems found while reading one package, each with its named error."""

from __future__ import annotations

from dataclasses import dataclass, field

from edxml.errors import EdxmlError
from edxml.result import Deviation

__all__ = ["Issues"]


@dataclass(slots=True)
class Issues:
    """Problems in the order met. Strict mode raises the first; tolerant lists them all."""

    found: list[tuple[Deviation, EdxmlError]] = field(default_factory=list)

    def add(self, error: EdxmlError, path: str = "", code: str | None = None) -> None:
        """Record ``error`` at ``path``; ``code`` defaults to the error's reason code."""
        self.found.append((Deviation(code or error.reason_code, str(error), path), error))

    def __bool__(self) -> bool:
        return bool(self.found)

    @property
    def deviations(self) -> tuple[Deviation, ...]:
        return tuple(deviation for deviation, _ in self.found)

    def first_error(self) -> EdxmlError | None:
        return self.found[0][1] if self.found else None
