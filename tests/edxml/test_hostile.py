"""Hostile inputs (files under tests/data/hostile/), each mapped to its named error.

Unsafe XML, size and count limits, unknown code lists and unreadable bytes are
refused in both modes. Content problems are refused in strict mode and reported
as a deviation of the same name in tolerant mode.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import edxml

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


#: file -> (named error, limits to read it with, refused in tolerant mode too)
CASES: dict[str, tuple[type[edxml.EdxmlError], edxml.Limits | None, bool]] = {
    "xxe-external-entity.edxml": (edxml.ForbiddenDtdError, None, True),
    "billion-laughs.edxml": (edxml.ForbiddenDtdError, None, True),
    "external-dtd.edxml": (edxml.ForbiddenDtdError, None, True),
    "entity-without-doctype.edxml": (edxml.ForbiddenEntityError, None, True),
    "undeclared-entity.edxml": (edxml.ForbiddenEntityError, None, True),
    "deep-nesting.edxml": (edxml.TooDeepError, None, True),
    "very-deep-nesting.edxml": (edxml.TooDeepError, None, True),
    "oversize.edxml": (edxml.PackageTooLargeError, edxml.Limits(max_package_bytes=100_000), True),
    "too-many-attachments.edxml": (
        edxml.TooManyAttachmentsError,
        edxml.Limits(max_attachments=1),
        True,
    ),
    "invalid-utf8.edxml": (edxml.MalformedXmlError, None, True),
    "latin1-bytes.edxml": (edxml.MalformedXmlError, None, True),
    "utf16.edxml": (edxml.MalformedXmlError, None, True),
    "latin1-declared.edxml": (edxml.MalformedXmlError, None, False),
    "not-xml.edxml": (edxml.MalformedXmlError, None, True),
    "truncated.edxml": (edxml.MalformedXmlError, None, True),
    "wrong-namespace.edxml": (edxml.NotEdxmlError, None, True),
    "wrong-root.edxml": (edxml.NotEdxmlError, None, True),
    "unknown-status-code.edxml": (edxml.InvalidCodeListError, None, True),
    "unknown-business-type.edxml": (edxml.InvalidCodeListError, None, True),
    "stray-bytes.edxml": (edxml.MalformedXmlError, None, False),
    "undeclared-prefix.edxml": (edxml.MalformedXmlError, None, False),
    "duplicate-content-ids.edxml": (edxml.DuplicateContentIdError, None, False),
    "dangling-manifest-reference.edxml": (edxml.DanglingReferenceError, None, False),
    "missing-subject.edxml": (edxml.MissingFieldError, None, False),
    "missing-sender.edxml": (edxml.MissingFieldError, None, False),
    "missing-recipients.edxml": (edxml.MissingFieldError, None, False),
    "missing-business-type.edxml": (edxml.MissingFieldError, None, False),
    "bad-base64.edxml": (edxml.AttachmentEncodingError, None, False),
    "bad-promulgation-date.edxml": (edxml.InvalidDateError, None, False),
    "bad-agency-code.edxml": (edxml.InvalidAgencyCodeError, None, False),
    "bad-document-id.edxml": (edxml.InvalidDocumentIdError, None, False),
}

#: Deviation codes tolerant mode reports where they differ from the error's reason code.
TOLERANT_CODES = {
    "stray-bytes.edxml": "stray-bytes-before-xml",
    "undeclared-prefix.edxml": "undeclared-namespace-prefix",
    "bad-document-id.edxml": "non-standard-document-id",
    "latin1-declared.edxml": "non-utf8-encoding",
}


def test_every_hostile_file_is_mapped() -> None:
    on_disk = {path.name for path in HOSTILE.glob("*.edxml")}
    assert on_disk == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_strict_refuses_with_the_named_error(name: str) -> None:
    error, limits, _ = CASES[name]
    with pytest.raises(error) as caught:
        edxml.parse((HOSTILE / name).read_bytes(), limits=limits)
    assert type(caught.value) is error
    assert isinstance(caught.value, edxml.EdxbusError)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_tolerant_refuses_or_reports(name: str) -> None:
    error, limits, fatal = CASES[name]
    data = (HOSTILE / name).read_bytes()
    if fatal:
        with pytest.raises(error):
            edxml.parse(data, mode=edxml.Mode.TOLERANT, limits=limits)
        return
    result = edxml.parse(data, mode=edxml.Mode.TOLERANT, limits=limits)
    assert TOLERANT_CODES.get(name, error.reason_code) in result.deviation_codes


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[2]))
def test_large_text_keeps_every_other_refusal(name: str) -> None:
    error, limits, _ = CASES[name]
    relaxed = dataclasses.replace(limits or edxml.Limits(), large_text=True)
    with pytest.raises(error):
        edxml.parse((HOSTILE / name).read_bytes(), limits=relaxed)


@pytest.mark.parametrize(
    "name", ["xxe-external-entity.edxml", "billion-laughs.edxml", "external-dtd.edxml"]
)
def test_the_hardened_parser_refuses_dtds_directly(name: str) -> None:
    with pytest.raises(edxml.ForbiddenDtdError):
        edxml.safe_fromstring((HOSTILE / name).read_bytes())


def test_attachment_over_the_limit() -> None:
    data = (HOSTILE / "oversize.edxml").read_bytes()
    with pytest.raises(edxml.AttachmentTooLargeError) as caught:
        edxml.parse(data, limits=edxml.Limits(max_attachment_bytes=50_000))
    assert caught.value.limit == 50_000
    assert caught.value.size > 50_000


def test_package_size_error_carries_data() -> None:
    data = (HOSTILE / "oversize.edxml").read_bytes()
    with pytest.raises(edxml.PackageTooLargeError) as caught:
        edxml.parse(data, limits=edxml.Limits(max_package_bytes=1000))
    assert caught.value.size == len(data)
    assert caught.value.limit == 1000
    assert isinstance(caught.value, ValueError)


def test_depth_limit_is_configurable() -> None:
    data = (HOSTILE / "deep-nesting.edxml").read_bytes()
    edxml.safe_fromstring(data, edxml.Limits(max_depth=100))
    with pytest.raises(edxml.TooDeepError) as caught:
        edxml.safe_fromstring(data, edxml.Limits(max_depth=20))
    assert caught.value.limit == 20
    assert caught.value.depth > 20


def test_safe_fromstring_refuses_text() -> None:
    with pytest.raises(TypeError):
        edxml.safe_fromstring("<edXML/>")  # type: ignore[arg-type]
