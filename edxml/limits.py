"""Size and shape limits applied while reading a package: safe by default."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]

_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What a package may weigh before it is refused, before any work is spent on it.

    The defaults fit real official documents (scans of a few dozen pages, zipped)
    while keeping one hostile package from exhausting a router's memory.
    """

    #: Raw bytes of the whole package, as received. The bus's one package-size
    #: default (``bus.settings.DEFAULT_MAX_PACKAGE_BYTES``) is this value.
    max_package_bytes: int = 50 * _MIB
    #: Element nesting depth; EDXML itself needs 8.
    max_depth: int = 32
    #: Attachments in one package.
    max_attachments: int = 100
    #: One attachment, after base64 decoding. With ``large_text`` off, libxml2
    #: caps one text node at 10,000,000 characters of base64, that is 7,500,000
    #: bytes decoded: a larger value then changes nothing.
    max_attachment_bytes: int = 7_500_000
    #: One file inside a zipped attachment, after decompression (zip bombs).
    max_unzipped_bytes: int = 200 * _MIB
    #: Let libxml2 read text nodes over 10,000,000 characters (its ``huge_tree``
    #: option), for attachments over 7.5 MB. Off by default: huge_tree also lifts
    #: libxml2's own caps on names and nesting. The DTD and entity refusals, the
    #: package size and the depth limit above still hold when it is on.
    large_text: bool = False

    def __post_init__(self) -> None:
        for name in (
            "max_package_bytes",
            "max_depth",
            "max_attachments",
            "max_attachment_bytes",
            "max_unzipped_bytes",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")
