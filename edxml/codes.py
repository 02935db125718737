"""Code lists of EDXML: status codes, business document types, reading modes.

Kept as enums so that an unknown value is an error at the edge, never a string
that travels on through the bus.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = ["BusinessDocType", "Mode", "StatusCode"]


class Mode(StrEnum):
    """How :func:`edxml.parse` treats a package that departs from the standard.

    ``STRICT`` refuses it with the named error of the first problem; ``TOLERANT``
    reads what field systems send and lists each departure as a deviation.
    """

    STRICT = "strict"
    TOLERANT = "tolerant"


_STATUS_TEXT: dict[str, tuple[str, str]] = {
    "01": ("arrived", "Đã đến"),
    "02": ("refused", "Từ chối tiếp nhận"),
    "03": ("accepted", "Đã tiếp nhận"),
    "04": ("assigned", "Phân công xử lý"),
    "05": ("processing", "Đang xử lý"),
    "06": ("completed", "Hoàn thành"),
    "13": ("take-back requested", "Yêu cầu lấy lại"),
    "15": ("change agreed", "Đồng ý cập nhật, lấy lại, thu hồi"),
    "16": ("change refused", "Từ chối cập nhật, lấy lại"),
}


class StatusCode(StrEnum):
    """The status codes of a status package (QĐ 28/2018), two digits on the wire."""

    ARRIVED = "01"
    REFUSED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    COMPLETED = "06"
    TAKE_BACK = "13"
    CHANGE_AGREED = "15"
    CHANGE_REFUSED = "16"

    @property
    def meaning(self) -> str:
        """A short English description, for logs and the CLI."""
        return _STATUS_TEXT[self.value][0]

    @property
    def label_vi(self) -> str:
        """The Vietnamese label clerks know the status by."""
        return _STATUS_TEXT[self.value][1]

    @property
    def sent_by_sender(self) -> bool:
        """True for the one status the original *sender* sends (13, take-back)."""
        return self is StatusCode.TAKE_BACK


class BusinessDocType(IntEnum):
    """``BussinessDocType``: what a document package does to earlier documents."""

    NEW = 0
    REVOCATION = 1
    UPDATE = 2
    REPLACEMENT = 3

    @property
    def label(self) -> str:
        """The lower-case English name used in JSON and events."""
        return self.name.lower()

    @property
    def needs_target(self) -> bool:
        """Revocations and updates name the document they act on."""
        return self in (BusinessDocType.REVOCATION, BusinessDocType.UPDATE)
