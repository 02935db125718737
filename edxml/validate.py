"""Semantic checks that the schema cannot express, on a model just read.

Mandatory fields (DOMAIN.md §2), agency codes against the configured pattern,
the DocumentId form and its agreement with the header, the targets of
revocations, updates and replacements, the reason of a refusal. Each problem is
recorded with its named error; :func:`edxml.parse` decides what to do with them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from edxml._issues import Issues
from edxml.agency import AgencyCode
from edxml.codes import BusinessDocType, StatusCode
from edxml.document_id import DocumentId
from edxml.errors import (
    InvalidAgencyCodeError,
    InvalidDateError,
    InvalidDocumentIdError,
    MissingFieldError,
)
from edxml.model import DocumentPackage, Organization, ResponseFor, StatusPackage

__all__ = ["check_document", "check_package", "check_status"]

_FORM_LIKE = re.compile(r"^[^,\s]+,\d{4}/\d{2}/\d{2},[^/,]+/.+$", re.ASCII)


def _require(value: object, field: str, issues: Issues) -> None:
    if value is None or value == "":
        issues.add(MissingFieldError(field), field)


#: Texts longer than this are checked every time, never remembered (an agency code is
#: 13 characters, a DocumentId a few dozen).
_MEMO_TEXT = 256
_NULL, _INVALID = 1, 2


def _agency_verdict(code: str, pattern: str | None) -> int:
    if code.lower() == "null":
        return _NULL
    return 0 if AgencyCode.is_valid(code, pattern) else _INVALID


#: A router checks the same few agency codes all day: each verdict is worked out once.
_remembered_verdict = lru_cache(maxsize=4096)(_agency_verdict)


def _agency(code: str, field: str, pattern: str | None, issues: Issues) -> None:
    if not code:
        return
    verdict = (
        _remembered_verdict(code, pattern)
        if len(code) <= _MEMO_TEXT
        else _agency_verdict(code, pattern)
    )
    if verdict == _NULL:
        issues.add(
            InvalidAgencyCodeError(code, field, "is the text 'null', not an agency code"),
            field,
            "null-organ-id",
        )
    elif verdict == _INVALID:
        issues.add(InvalidAgencyCodeError(code, field), field)


@lru_cache(maxsize=4096)
def _known_document_id(text: str) -> DocumentId | None:
    try:
        return DocumentId.parse(text)
    except InvalidDocumentIdError:
        return None


def _document_id(text: str, field: str, issues: Issues) -> DocumentId | None:
    if not text:
        return None
    if len(text) <= _MEMO_TEXT:
        known = _known_document_id(text)  # a DocumentId is immutable: read once
        if known is not None:
            return known
    try:
        return DocumentId.parse(text)
    except InvalidDocumentIdError as error:
        code = "invalid-document-id" if _FORM_LIKE.match(text) else "non-standard-document-id"
        issues.add(error, field, code)
        return None


def _valid_code(code: str, pattern: str | None) -> bool:
    """True when ``code`` is an agency code the rules say nothing about (the common
    case, told from the remembered verdict before any path is written)."""
    return bool(code) and len(code) <= _MEMO_TEXT and _remembered_verdict(code, pattern) == 0


def _organization(org: Organization, path: str, pattern: str | None, issues: Issues) -> None:
    _require(org.organ_id, f"{path}/OrganId", issues)
    _agency(org.organ_id, f"{path}/OrganId", pattern, issues)


def _response_for(response: ResponseFor, path: str, pattern: str | None, issues: Issues) -> None:
    _agency(response.organ_id, f"{path}/OrganId", pattern, issues)
    _document_id(response.document_id, f"{path}/DocumentId", issues)


def check_document(package: DocumentPackage, issues: Issues, pattern: str | None = None) -> None:
    """Every semantic rule of a document package."""
    if not _valid_code(package.sender.organ_id, pattern):
        _organization(package.sender, "MessageHeader/From", pattern, issues)
    if not package.recipients:
        issues.add(MissingFieldError("MessageHeader/To"), "MessageHeader/To")
    for index, recipient in enumerate(package.recipients, start=1):
        if not _valid_code(recipient.organ_id, pattern):
            _organization(recipient, f"MessageHeader/To[{index}]", pattern, issues)
    _require(package.document_id, "MessageHeader/DocumentId", issues)
    parsed = _document_id(package.document_id, "MessageHeader/DocumentId", issues)
    _require(package.code.number, "MessageHeader/Code/CodeNumber", issues)
    _require(package.code.notation, "MessageHeader/Code/CodeNotation", issues)
    _require(package.promulgation.date, "MessageHeader/PromulgationInfo/PromulgationDate", issues)
    _require(package.document_type.type or None, "MessageHeader/DocumentType/Type", issues)
    _require(package.subject, "MessageHeader/Subject", issues)
    _require(package.signer.full_name, "MessageHeader/SignerInfo/FullName", issues)
    if parsed is not None:
        _agree(package, parsed, issues)
    issued = package.promulgation.date
    if package.due_date is not None and issued is not None and package.due_date < issued:
        field = "MessageHeader/DueDate"
        issues.add(
            InvalidDateError(
                field,
                package.due_date.isoformat(),
                f"is before the promulgation date {issued.isoformat()}",
            ),
            field,
            "due-date-before-promulgation",
        )
    for index, response in enumerate(package.response_for, start=1):
        path = f"MessageHeader/ResponseFor[{index}]"
        if response.is_empty:
            issues.add(MissingFieldError(f"{path}/DocumentId"), path, "empty-response-for")
        else:
            _response_for(response, path, pattern, issues)
    if not package.trace_headers:
        issues.add(MissingFieldError("TraceHeaderList/TraceHeader"), "TraceHeaderList")
    for index, trace in enumerate(package.trace_headers, start=1):
        if trace.timestamp is not None and _valid_code(trace.organ_id, pattern):
            continue
        path = f"TraceHeaderList/TraceHeader[{index}]"
        _require(trace.organ_id, f"{path}/OrganId", issues)
        _agency(trace.organ_id, f"{path}/OrganId", pattern, issues)
        _require(trace.timestamp, f"{path}/Timestamp", issues)
    _business(package, pattern, issues)


def _agree(package: DocumentPackage, parsed: DocumentId, issues: Issues) -> None:
    field = "MessageHeader/DocumentId"
    differences = []
    if package.sender.organ_id and parsed.organ_id != package.sender.organ_id:
        differences.append(f"names {parsed.organ_id} but From is {package.sender.organ_id}")
    if package.promulgation.date and parsed.date != package.promulgation.date:
        differences.append(
            f"carries the date {parsed.date.isoformat()} but PromulgationDate is "
            f"{package.promulgation.date.isoformat()}"
        )
    code = f"{package.code.number}/{package.code.notation}"
    if package.code.number and parsed.code != code:
        differences.append(f"carries {parsed.code} but Code is {code}")
    if differences:
        issues.add(
            InvalidDocumentIdError(field, package.document_id, "; ".join(differences)),
            field,
            "document-id-mismatch",
        )


def _business(package: DocumentPackage, pattern: str | None, issues: Issues) -> None:
    business = package.business
    path = "TraceHeaderList/Bussiness"
    _document_id(business.document_id, f"{path}/DocumentId", issues)
    if business.doc_type.needs_target and not business.document_id:
        issues.add(
            MissingFieldError(
                f"{path}/DocumentId (the document a {business.doc_type.label} acts on)"
            ),
            f"{path}/DocumentId",
            "missing-business-target",
        )
    if business.doc_type is BusinessDocType.REPLACEMENT and not business.targets:
        issues.add(
            MissingFieldError(f"{path}/ReplacementInfoList/ReplacementInfo"),
            f"{path}/ReplacementInfoList",
            "missing-business-target",
        )
    for index, replacement in enumerate(business.replacements, start=1):
        item = f"{path}/ReplacementInfoList/ReplacementInfo[{index}]"
        _require(replacement.document_id, f"{item}/DocumentId", issues)
        _document_id(replacement.document_id, f"{item}/DocumentId", issues)
        for organ_id in replacement.organ_ids:
            _agency(organ_id, f"{item}/OrganIdList/OrganId", pattern, issues)
    if business.document_info is not None:
        for index, receiver in enumerate(business.document_info.receivers, start=1):
            field = f"{path}/BussinessDocumentInfo/ReceiverList/Receiver[{index}]/OrganId"
            _require(receiver.organ_id, field, issues)
            _agency(receiver.organ_id, field, pattern, issues)


def check_status(package: StatusPackage, issues: Issues, pattern: str | None = None) -> None:
    """Every semantic rule of a status package."""
    _organization(package.sender, "MessageHeader/From", pattern, issues)
    path = "MessageHeader/ResponseFor"
    _require(package.response_for.organ_id, f"{path}/OrganId", issues)
    _require(package.response_for.document_id, f"{path}/DocumentId", issues)
    _response_for(package.response_for, path, pattern, issues)
    _require(package.timestamp, "MessageHeader/Timestamp", issues)
    if package.status_code is StatusCode.REFUSED:
        _require(package.description, "MessageHeader/Description (the reason of a refusal)", issues)
    for index, trace in enumerate(package.trace_headers, start=1):
        trace_path = f"TraceHeaderList/TraceHeader[{index}]"
        _agency(trace.organ_id, f"{trace_path}/OrganId", pattern, issues)


def check_package(
    package: DocumentPackage | StatusPackage, issues: Issues, pattern: str | None = None
) -> None:
    """Dispatch on the kind of package."""
    if isinstance(package, StatusPackage):
        check_status(package, issues, pattern)
    else:
        check_document(package, issues, pattern)
