"""Agency codes: pattern, level, parent, ancestors, subtree tests (DOMAIN.md §1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

import edxml
from edxml import AgencyCode
from tests.strategies import agency_codes


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("000.00.00.G22", 1, None),
        ("000.00.00.H41", 1, None),
        ("000.00.24.H44", 2, "000.00.00.H44"),
        ("000.46.24.H44", 3, "000.00.24.H44"),
        ("002.00.20.H13", 4, "000.00.20.H13"),
        ("001.02.03.K01", 4, "000.02.03.K01"),
        ("000.46.00.H44", 3, "000.00.00.H44"),
    ],
)
def test_level_and_parent(code: str, level: int, parent: str | None) -> None:
    agency = AgencyCode.parse(code)
    assert agency.level == level
    assert (str(agency.parent) if agency.parent else None) == parent
    assert str(agency) == code
    assert agency.level1_unit == code[-3:]


def test_ancestors_nearest_first() -> None:
    commune = AgencyCode.parse("001.46.24.H44")
    assert [str(a) for a in commune.ancestors] == [
        "000.46.24.H44",
        "000.00.24.H44",
        "000.00.00.H44",
    ]
    assert commune.is_under("000.00.00.H44")
    assert commune.is_under(AgencyCode("000.00.24.H44"))
    assert not commune.is_under("000.00.00.H41")
    assert not commune.is_under(commune)
    assert commune.is_under(commune, inclusive=True)


@pytest.mark.parametrize(
    "text",
    ["", "vxp.saas.03", "28.22.H17", "01.02.G22", "000.00.00.g22", "000.00.00.G2", "null"],
)
def test_default_pattern_refuses_other_forms(text: str) -> None:
    with pytest.raises(edxml.InvalidAgencyCodeError) as caught:
        AgencyCode.parse(text)
    assert caught.value.agency == text
    assert caught.value.reason_code == "invalid-agency-code"
    assert not AgencyCode.is_valid(text)


def test_configurable_pattern() -> None:
    code = AgencyCode.parse("vxp.saas.03", pattern=r"^vxp\.saas\.\d{2}$")
    assert code.level == 1
    assert code.parent is None
    assert not code.is_standard
    assert code.ancestors == ()
    with pytest.raises(edxml.InvalidAgencyCodeError):
        AgencyCode.parse("000.00.00.G22", pattern=r"^vxp\.saas\.\d{2}$")


def test_default_pattern_constant() -> None:
    assert edxml.DEFAULT_AGENCY_PATTERN == r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"


def test_codes_sort_and_hash() -> None:
    codes = {AgencyCode("000.00.00.H41"), AgencyCode("000.00.00.H41"), AgencyCode("000.00.00.G22")}
    assert sorted(str(c) for c in codes) == ["000.00.00.G22", "000.00.00.H41"]


@settings(max_examples=100)
@given(agency_codes())
def test_ancestry_invariants(text: str) -> None:
    code = AgencyCode.parse(text)
    assert 1 <= code.level <= 4
    assert len(code.ancestors) == code.level - 1 or code.parent is None
    for ancestor in code.ancestors:
        assert ancestor.level < code.level
        assert ancestor.level1_unit == code.level1_unit
        assert code.is_under(ancestor)
    if code.parent is not None:
        assert AgencyCode.parse(str(code.parent)) == code.parent


def test_other_scripts_digits_are_not_digits() -> None:
    assert not AgencyCode.is_valid("٠٠٠.٠٠.٠٠.G22")
    with pytest.raises(edxml.InvalidDateError):
        edxml.parse_date("２０２６/０３/０２")
    assert not edxml.DocumentId.is_standard("000.00.00.G22,٢٠١٥/09/30,7816/VPCP")
