"""parse(build(m)) == m for generated models, in both modes, with no deviation."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings

import edxml
from tests.strategies import document_packages, status_packages


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_packages())
def test_document_round_trip_strict(package: edxml.DocumentPackage) -> None:
    data = edxml.build(package)
    result = edxml.parse(data)
    assert result.package == package
    assert result.deviations == ()
    assert edxml.parse(data, mode=edxml.Mode.TOLERANT).deviations == ()


@settings(max_examples=80, deadline=None)
@given(status_packages())
def test_status_round_trip_strict(package: edxml.StatusPackage) -> None:
    result = edxml.parse(edxml.build(package))
    assert result.package == package
    assert result.package.kind == "status"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(document_packages(max_recipients=3, large_attachments=True))
def test_large_attachments_round_trip(package: edxml.DocumentPackage) -> None:
    result = edxml.parse(edxml.build(package))
    assert result.package.attachments == package.attachments
    assert [a.digest for a in result.package.attachments] == [a.digest for a in package.attachments]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_packages(max_recipients=200))
def test_many_recipients_round_trip(package: edxml.DocumentPackage) -> None:
    result = edxml.parse(edxml.build(package))
    assert result.package.recipient_codes == package.recipient_codes


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_packages())
def test_build_is_deterministic_and_utf8(package: edxml.DocumentPackage) -> None:
    first = edxml.build(package)
    assert first == edxml.build(package)
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    assert escape(package.subject).encode("utf-8") in first
