"""What :func:`edxml.parse` returns: the package, its deviations, its signature facts."""

from __future__ import annotations

from dataclasses import dataclass

from edxml.model import DocumentPackage, StatusPackage

__all__ = ["Deviation", "ParseResult", "SignatureInfo"]


@dataclass(frozen=True, slots=True)
class Deviation:
    """One departure from the standard that a tolerant read accepted.

    ``code`` is a stable kebab-case name (listed in docs/EDXML.md); ``path`` says
    where, e.g. ``MessageHeader/To[2]/OrganId``.
    """

    code: str
    message: str
    path: str = ""

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.code}{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What the package says about its XML signature (not whether it verifies)."""

    present: bool = False
    namespaced: bool = False
    algorithm: str | None = None
    c14n: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """A package read from bytes, with every deviation found on the way."""

    package: DocumentPackage | StatusPackage
    deviations: tuple[Deviation, ...] = ()
    signature: SignatureInfo = SignatureInfo()

    @property
    def ok(self) -> bool:
        """True when the package departs from the standard in nothing."""
        return not self.deviations

    @property
    def deviation_codes(self) -> tuple[str, ...]:
        """The distinct deviation codes, in the order first met."""
        return tuple(dict.fromkeys(d.code for d in self.deviations))
