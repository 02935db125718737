"""DocumentId: ``{OrganId},{yyyy/MM/dd},{Number}/{Notation}``."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings

import edxml
from edxml import DocumentId
from tests.strategies import document_ids


def test_parse_the_standard_form() -> None:
    parsed = DocumentId.parse("000.00.00.G22,2015/09/30,7816/VPCP-TTĐT")
    assert parsed.organ_id == "000.00.00.G22"
    assert parsed.date == date(2015, 9, 30)
    assert parsed.number == "7816"
    assert parsed.notation == "VPCP-TTĐT"
    assert parsed.code == "7816/VPCP-TTĐT"
    assert str(parsed) == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


def test_notation_may_hold_slashes() -> None:
    parsed = DocumentId.parse("000.00.00.H41,2024/01/05,12/QĐ/UBND")
    assert parsed.number == "12"
    assert parsed.notation == "QĐ/UBND"


def test_build() -> None:
    built = DocumentId.build("000.00.00.H41", date(2024, 1, 5), "12", "UBND-VX")
    assert str(built) == "000.00.00.H41,2024/01/05,12/UBND-VX"


@pytest.mark.parametrize(
    "text",
    [
        "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb",
        "",
        "000.00.00.G22,2015-09-30,7816/VPCP",
        "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT",
        "000.00.00.G22,2015/09/30,7816",
        "000.00.00.G22,2015/09/30,/VPCP",
    ],
)
def test_other_forms_are_refused(text: str) -> None:
    with pytest.raises(edxml.InvalidDocumentIdError):
        DocumentId.parse(text)
    assert not DocumentId.is_standard(text)


def test_build_refuses_parts_that_would_not_parse_back() -> None:
    with pytest.raises(edxml.InvalidDocumentIdError):
        DocumentId.build("000.00.00.H41", date(2024, 1, 5), "12/3", "")


@settings(max_examples=100)
@given(document_ids())
def test_round_trip(text: str) -> None:
    assert str(DocumentId.parse(text)) == text
