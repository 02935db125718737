"""DocumentId: ``{OrganId},{yyyy/MM/dd},{Number}/{Notation}``.

The standard form names the issuing agency, the promulgation date and the
document's number and notation, e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``.
Field systems also send bare UUIDs; :func:`edxml.parse` accepts those in tolerant
mode and reports them as the deviation ``non-standard-document-id``.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from edxml._dates import format_date, parse_date
from edxml.errors import InvalidDateError, InvalidDocumentIdError

__all__ = ["DocumentId"]

_FORM = re.compile(r"^([^,\s]+),(\d{4}/\d{2}/\d{2}),([^/,]+)/(.+)$", re.ASCII)


@dataclass(frozen=True, slots=True)
class DocumentId:
    """A DocumentId in the standard form; ``str()`` writes it back."""

    organ_id: str
    date: _dt.date
    number: str
    notation: str

    @classmethod
    def build(cls, organ_id: str, date: _dt.date, number: str, notation: str) -> DocumentId:
        """Assemble a DocumentId, refusing parts that would not parse back."""
        candidate = cls(organ_id, date, number, notation)
        if cls.parse(str(candidate)) != candidate:
            raise InvalidDocumentIdError(
                "DocumentId", str(candidate), "would not read back as the parts it was built from"
            )
        return candidate

    @classmethod
    def parse(cls, text: str) -> DocumentId:
        """Read the standard form; :class:`InvalidDocumentIdError` for anything else."""
        match = _FORM.fullmatch(text.strip())
        if match is None:
            raise InvalidDocumentIdError(
                "DocumentId", text, "is not of the form {OrganId},{yyyy/MM/dd},{Number}/{Notation}"
            )
        organ_id, date_text, number, notation = match.groups()
        try:
            when = parse_date(date_text, "DocumentId")
        except InvalidDateError:
            raise InvalidDocumentIdError(
                "DocumentId", text, f"carries {date_text!r}, which is not a date of the calendar"
            ) from None
        if number.strip() != number or notation.strip() != notation:
            raise InvalidDocumentIdError("DocumentId", text, "has spaces around its number")
        return cls(organ_id, when, number, notation)

    @classmethod
    def is_standard(cls, text: str) -> bool:
        """True when ``text`` parses; never raises."""
        try:
            cls.parse(text)
        except InvalidDocumentIdError:
            return False
        return True

    @property
    def code(self) -> str:
        """``Number/Notation``, as status packages quote it in ``ResponseFor/Code``."""
        return f"{self.number}/{self.notation}"

    def __str__(self) -> str:
        return f"{self.organ_id},{format_date(self.date)},{self.number}/{self.notation}"
