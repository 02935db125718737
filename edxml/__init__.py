"""EDXML (QCVN 102:2016) packages: model, parse, build, validate. Bytes in, objects out."""

from edxml.errors import (
    BusError,
    ClientError,
    EdxbusError,
    EdxmlError,
    SigningError,
)

__all__ = ["BusError", "ClientError", "EdxbusError", "EdxmlError", "SigningError"]
