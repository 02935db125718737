"""Code lists and EDXML date formats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings

import edxml
from tests.strategies import timestamps


def test_status_codes_are_the_nine_of_the_regulation() -> None:
    assert [code.value for code in edxml.StatusCode] == [
        "01", "02", "03", "04", "05", "06", "13", "15", "16",
    ]  # fmt: skip
    for code in edxml.StatusCode:
        assert code.meaning
        assert code.label_vi
    assert edxml.StatusCode("01").meaning == "arrived"
    assert edxml.StatusCode.TAKE_BACK.sent_by_sender
    assert not edxml.StatusCode.ARRIVED.sent_by_sender


def test_business_types() -> None:
    assert [(int(t), t.label) for t in edxml.BusinessDocType] == [
        (0, "new"),
        (1, "revocation"),
        (2, "update"),
        (3, "replacement"),
    ]
    assert edxml.BusinessDocType.REVOCATION.needs_target
    assert not edxml.BusinessDocType.NEW.needs_target


def test_mode_accepts_its_string_value() -> None:
    assert edxml.Mode("tolerant") is edxml.Mode.TOLERANT
    assert edxml.Mode.STRICT == "strict"


def test_dates() -> None:
    assert edxml.parse_date("2015/09/30") == date(2015, 9, 30)
    assert edxml.format_date(date(2015, 9, 3)) == "2015/09/03"
    for bad in ["2015-09-30", "30/09/2015", "2015/02/30", "2015/9/3", ""]:
        with pytest.raises(edxml.InvalidDateError):
            edxml.parse_date(bad)


def test_timestamps_are_vietnam_time() -> None:
    moment = edxml.parse_timestamp("2018/09/28 17:25:11")
    assert moment.utcoffset() == timedelta(hours=7)
    assert moment.astimezone(UTC) == datetime(2018, 9, 28, 10, 25, 11, tzinfo=UTC)
    assert edxml.format_timestamp(datetime(2018, 9, 28, 10, 25, 11, tzinfo=UTC)) == (
        "2018/09/28 17:25:11"
    )
    with pytest.raises(edxml.InvalidDateError):
        edxml.parse_timestamp("2018/09/28T17:25:11")
    with pytest.raises(edxml.InvalidDateError):
        edxml.format_timestamp(datetime(2018, 9, 28, 10, 25, 11))


@settings(max_examples=100)
@given(timestamps)
def test_timestamp_round_trip(moment: datetime) -> None:
    assert edxml.parse_timestamp(edxml.format_timestamp(moment)) == moment
