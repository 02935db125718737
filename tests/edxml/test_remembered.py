"""Records the reader remembers (immutable values met again and again) are the same
values as those it would build, and a long record is never kept."""

from __future__ import annotations

import edxml
from edxml import _reader
from tests.edxml.helpers import make_package


def test_an_organisation_met_again_is_the_one_built_before() -> None:
    data = edxml.build(make_package())
    first, second = edxml.parse(data).package, edxml.parse(data).package
    assert first.sender is second.sender
    assert first.recipients[0] is second.recipients[0]


def test_records_that_differ_only_in_how_their_texts_split_stay_apart() -> None:
    one = _reader._known_organization(["000.00.00.H41", "ab", "", "", "", "", "", ""])
    other = _reader._known_organization(["000.00.00.H41", "a", "b", "", "", "", "", ""])
    assert one != other
    assert (one.organization_in_charge, other.organization_in_charge) == ("ab", "a")


def test_a_long_organisation_is_read_but_not_kept() -> None:
    name = "x" * 2000
    package = make_package()
    long_sender = edxml.Organization(package.sender.organ_id, organ_name=name)
    data = edxml.build(make_package()).replace(
        b"<edXML:OrganName>" + package.sender.organ_name.encode() + b"</edXML:OrganName>",
        b"<edXML:OrganName>" + name.encode() + b"</edXML:OrganName>",
        1,
    )
    read = edxml.parse(data).package
    assert read.sender == long_sender
    assert all(len(key) <= 1024 for key in _reader._ORGANIZATIONS)
