"""EDXML dates (``yyyy/MM/dd``) and timestamps (``yyyy/MM/dd HH:mm:ss``).

EDXML timestamps carry no zone: they are Vietnam time. edxbus reads them as
UTC+07:00 and keeps every datetime aware; it writes any aware datetime back in
Vietnam time. Naive datetimes are refused rather than guessed.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from edxml.errors import InvalidDateError

__all__ = [
    "VIETNAM_TIME",
    "format_date",
    "format_timestamp",
    "known_date",
    "known_timestamp",
    "parse_date",
    "parse_timestamp",
]

#: Indochina Time, fixed (Vietnam has no daylight saving).
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")

_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$", re.ASCII)
_TIMESTAMP = re.compile(r"^(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})$", re.ASCII)


def parse_date(text: str, field: str = "date") -> date:
    """``yyyy/MM/dd`` to a date; :class:`InvalidDateError` otherwise."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise InvalidDateError(field, text, "is not a date of the form yyyy/MM/dd")
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidDateError(field, text, "is not a date of the calendar") from None


def parse_timestamp(text: str, field: str = "Timestamp") -> datetime:
    """``yyyy/MM/dd HH:mm:ss`` (Vietnam time) to an aware datetime."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise InvalidDateError(field, text, "is not a timestamp of the form yyyy/MM/dd HH:mm:ss")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=VIETNAM_TIME)
    except ValueError:
        raise InvalidDateError(field, text, "is not a moment of the calendar") from None


def format_date(value: date) -> str:
    """A date as ``yyyy/MM/dd``."""
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: datetime) -> str:
    """An aware datetime as ``yyyy/MM/dd HH:mm:ss`` in Vietnam time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidDateError("Timestamp", value.isoformat(), "has no time zone")
    local = value.astimezone(VIETNAM_TIME)
    return f"{format_date(local.date())} {local.hour:02d}:{local.minute:02d}:{local.second:02d}"


#: Texts longer than this are never remembered (a date is 10 characters, a timestamp 19).
_MEMO_TEXT = 32


@lru_cache(maxsize=4096)
def _date_memo(text: str) -> date | None:
    try:
        return parse_date(text)
    except InvalidDateError:
        return None


@lru_cache(maxsize=4096)
def _timestamp_memo(text: str) -> datetime | None:
    try:
        return parse_timestamp(text)
    except InvalidDateError:
        return None


def known_date(text: str) -> date | None:
    """What :func:`parse_date` reads from ``text``, remembered (a router reads the same
    few dates all day); None when it would refuse it (call it for the named error)."""
    return _date_memo(text) if len(text) <= _MEMO_TEXT else None


def known_timestamp(text: str) -> datetime | None:
    """What :func:`parse_timestamp` reads from ``text``, remembered; None when it would
    refuse it (call it for the named error)."""
    return _timestamp_memo(text) if len(text) <= _MEMO_TEXT else None
