"""XML signatures, certificates and trust for EDXML packages."""

from edxml.errors import SigningError

__all__ = ["SigningError"]
