"""The reader as it was before it read each element once: the reference the
differential tests in ``test_reader_differential.py`` hold the reader to.

Read an EDXML element tree into the model, recording every problem met.

The reader never stops at a recoverable problem: it records it in
:class:`~edxml._issues.Issues` with its named error and carries on with the
best reading, so tolerant mode can list them all and strict mode can raise the
first. Problems the model cannot represent (an unknown status code or business
type, limits exceeded) raise at once in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from lxml import etree

from edxml._dates import parse_date, parse_timestamp
from edxml._issues import Issues
from edxml._names import EDXML_NS
from edxml.codes import BusinessDocType, StatusCode
from edxml.errors import (
    EdxmlError,
    InvalidCodeListError,
    InvalidFieldError,
    MissingFieldError,
)
from edxml.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    DocumentCode,
    DocumentPackage,
    DocumentType,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
)

__all__ = ["read_document", "read_status"]

_Element = etree._Element
_T = TypeVar("_T")
_TRUE = {"1", "true", "True", "TRUE"}
_FALSE = {"0", "false", "False", "FALSE"}


_PREFIX = "{" + EDXML_NS + "}"
_SKIP = len(_PREFIX)


class _Node:
    """An element with its children indexed by local name, built once on first use.

    A package header is read field by field; one pass over the children (filtered
    to EDXML elements) beats one ElementPath search per field.
    """

    __slots__ = ("_index", "element")

    def __init__(self, element: _Element) -> None:
        self.element = element
        self._index: dict[str, list[_Element]] | None = None

    def index(self) -> dict[str, list[_Element]]:
        found = self._index
        if found is None:
            found = {}
            for child in self.element:
                tag = child.tag
                if not (isinstance(tag, str) and tag.startswith(_PREFIX)):
                    continue
                local = tag[_SKIP:]
                bucket = found.get(local)
                if bucket is None:
                    found[local] = [child]
                else:
                    bucket.append(child)
            self._index = found
        return found


def _child(parent: _Node | None, local: str) -> _Node | None:
    if parent is None:
        return None
    index = parent._index
    found = (parent.index() if index is None else index).get(local)
    return _Node(found[0]) if found else None


def _children(parent: _Node | None, local: str) -> list[_Node]:
    return [] if parent is None else [_Node(e) for e in parent.index().get(local, ())]


def _element_text(element: _Element) -> str:
    """Text of an element, comments inside it skipped."""
    if not len(element):
        return (element.text or "").strip()
    return "".join(str(t) for t in element.itertext(with_tail=True)).strip()


def _all_text(node: _Node) -> str:
    return _element_text(node.element)


def _text(parent: _Node | None, local: str) -> str:
    # The reader's innermost call (about fifty per package): kept to one function.
    if parent is None:
        return ""
    index = parent._index
    found = (parent.index() if index is None else index).get(local)
    if not found:
        return ""
    element = found[0]
    if not len(element):
        return (element.text or "").strip()
    return "".join(str(t) for t in element.itertext(with_tail=True)).strip()


def _convert(text: str, path: str, issues: Issues, convert: Callable[[str], _T], default: _T) -> _T:
    if not text:
        return default
    try:
        return convert(text)
    except EdxmlError as error:
        issues.add(error, path)
    except ValueError:
        issues.add(InvalidFieldError(path, text, "is not a number"), path)
    return default


def _optional_int(text: str, path: str, issues: Issues) -> int | None:
    return _convert(text, path, issues, int, None)


def _flag(text: str, path: str, issues: Issues) -> bool | None:
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    issues.add(InvalidFieldError(path, text, "is not a yes/no value (0, 1, true, false)"), path)
    return None


def _date(text: str, path: str, issues: Issues) -> date | None:
    return _convert(text, path, issues, lambda t: parse_date(t, path), None)


def _timestamp(text: str, path: str, issues: Issues) -> datetime | None:
    return _convert(text, path, issues, lambda t: parse_timestamp(t, path), None)


def _organization(node: _Node) -> Organization:
    return Organization(
        organ_id=_text(node, "OrganId"),
        organization_in_charge=_text(node, "OrganizationInCharge"),
        organ_name=_text(node, "OrganName"),
        organ_add=_text(node, "OrganAdd"),
        email=_text(node, "Email"),
        telephone=_text(node, "Telephone"),
        fax=_text(node, "Fax"),
        website=_text(node, "Website"),
    )


def _staff(node: _Node | None) -> StaffInfo | None:
    if node is None:
        return None
    return StaffInfo(
        department=_text(node, "Department"),
        staff=_text(node, "Staff"),
        email=_text(node, "Email"),
        mobile=_text(node, "Mobile"),
    )


def _response_for(node: _Node, path: str, issues: Issues) -> ResponseFor:
    return ResponseFor(
        organ_id=_text(node, "OrganId"),
        code=_text(node, "Code"),
        promulgation_date=_date(
            _text(node, "PromulgationDate"), f"{path}/PromulgationDate", issues
        ),
        document_id=_text(node, "DocumentId"),
    )


def _trace_headers(node: _Node | None, issues: Issues) -> tuple[TraceHeader, ...]:
    traces = []
    for index, trace in enumerate(_children(node, "TraceHeader"), start=1):
        path = f"TraceHeaderList/TraceHeader[{index}]"
        traces.append(
            TraceHeader(
                organ_id=_text(trace, "OrganId"),
                timestamp=_timestamp(_text(trace, "Timestamp"), f"{path}/Timestamp", issues),
            )
        )
    return tuple(traces)


def _business(node: _Node | None, issues: Issues) -> Business:
    path = "TraceHeaderList/Bussiness"
    if node is None:
        issues.add(MissingFieldError(f"{path}/BussinessDocType"), path, "missing-business")
        return Business()
    type_text = _text(node, "BussinessDocType")
    if not type_text:
        issues.add(MissingFieldError(f"{path}/BussinessDocType"), f"{path}/BussinessDocType")
        doc_type = BusinessDocType.NEW
    else:
        try:
            doc_type = BusinessDocType(int(type_text))
        except ValueError:
            raise InvalidCodeListError(
                "BussinessDocType", type_text, "is not a business type (0, 1, 2 or 3)"
            ) from None
    info_node = _child(node, "BussinessDocumentInfo")
    info = None
    if info_node is not None:
        info_path = f"{path}/BussinessDocumentInfo"
        receivers = tuple(
            Receiver(
                organ_id=_text(receiver, "OrganId"),
                receiver_type=_optional_int(
                    _text(receiver, "ReceiverType"), f"{info_path}/Receiver/ReceiverType", issues
                ),
            )
            for receiver in _children(_child(info_node, "ReceiverList"), "Receiver")
        )
        info = BusinessDocumentInfo(
            document_info=bool(
                _flag(_text(info_node, "DocumentInfo"), f"{info_path}/DocumentInfo", issues)
            ),
            document_receiver=bool(
                _flag(_text(info_node, "DocumentReceiver"), f"{info_path}/DocumentReceiver", issues)
            ),
            receivers=receivers,
        )
    replacements = tuple(
        ReplacementInfo(
            document_id=_text(item, "DocumentId"),
            organ_ids=tuple(
                _all_text(organ) for organ in _children(_child(item, "OrganIdList"), "OrganId")
            ),
        )
        for item in _children(_child(node, "ReplacementInfoList"), "ReplacementInfo")
    )
    return Business(
        doc_type=doc_type,
        document_id=_text(node, "DocumentId"),
        reason=_text(node, "BussinessDocReason"),
        paper=bool(_flag(_text(node, "Paper"), f"{path}/Paper", issues)),
        staff_info=_staff(_child(node, "StaffInfo")),
        document_info=info,
        replacements=replacements,
    )


def _other_info(node: _Node | None, issues: Issues) -> OtherInfo:
    if node is None:
        return OtherInfo()
    path = "MessageHeader/OtherInfo"
    priority = _optional_int(_text(node, "Priority"), f"{path}/Priority", issues)
    return OtherInfo(
        priority=priority or 0,
        sphere_of_promulgation=_text(node, "SphereOfPromulgation"),
        typer_notation=_text(node, "TyperNotation"),
        promulgation_amount=_optional_int(
            _text(node, "PromulgationAmount"), f"{path}/PromulgationAmount", issues
        ),
        page_amount=_optional_int(_text(node, "PageAmount"), f"{path}/PageAmount", issues),
        direction=_flag(_text(node, "Direction"), f"{path}/Direction", issues),
        appendixes=tuple(_all_text(a) for a in _children(_child(node, "Appendixes"), "Appendix")),
    )


def read_document(
    header_element: _Element,
    message_element: _Element,
    issues: Issues,
    attachments: Callable[[], tuple[Attachment, ...]] = tuple,
) -> DocumentPackage:
    """The document package: its header fields, then ``attachments()`` (read last, so
    problems are recorded in document order; no copy of the package is made to add
    them)."""
    header, message = _Node(header_element), _Node(message_element)
    sender_node = _child(message, "From")
    sender = _organization(sender_node) if sender_node is not None else Organization("")
    recipients = tuple(_organization(node) for node in _children(message, "To"))
    promulgation = _child(message, "PromulgationInfo")
    doc_type = _child(message, "DocumentType")
    type_text = _text(doc_type, "Type")
    signer = _child(message, "SignerInfo")
    traces_node = _child(header, "TraceHeaderList")
    response_for = tuple(
        _response_for(node, f"MessageHeader/ResponseFor[{index}]", issues)
        for index, node in enumerate(_children(message, "ResponseFor"), start=1)
    )
    return DocumentPackage(
        sender=sender,
        recipients=recipients,
        document_id=_text(message, "DocumentId"),
        code=DocumentCode(
            number=_text(_child(message, "Code"), "CodeNumber"),
            notation=_text(_child(message, "Code"), "CodeNotation"),
        ),
        promulgation=PromulgationInfo(
            place=_text(promulgation, "Place"),
            date=_date(
                _text(promulgation, "PromulgationDate"),
                "MessageHeader/PromulgationInfo/PromulgationDate",
                issues,
            ),
        ),
        document_type=DocumentType(
            type=_optional_int(type_text, "MessageHeader/DocumentType/Type", issues) or 0,
            type_detail=_optional_int(
                _text(doc_type, "TypeDetail"), "MessageHeader/DocumentType/TypeDetail", issues
            ),
            type_name=_text(doc_type, "TypeName"),
        ),
        subject=_text(message, "Subject"),
        content=_text(message, "Content"),
        signer=SignerInfo(
            competence=_text(signer, "Competence"),
            position=_text(signer, "Position"),
            full_name=_text(signer, "FullName"),
        ),
        due_date=_date(_text(message, "DueDate"), "MessageHeader/DueDate", issues),
        other_info=_other_info(_child(message, "OtherInfo"), issues),
        steering_type=_optional_int(
            _text(message, "SteeringType"), "MessageHeader/SteeringType", issues
        ),
        to_places=tuple(_all_text(p) for p in _children(_child(message, "ToPlaces"), "Place")),
        response_for=response_for,
        trace_headers=_trace_headers(traces_node, issues),
        business=_business(_child(traces_node, "Bussiness"), issues),
        attachments=attachments(),
    )


def read_status(
    header_element: _Element, message_element: _Element, issues: Issues
) -> StatusPackage:
    """The status package. An absent or unknown StatusCode raises in every mode."""
    header, message = _Node(header_element), _Node(message_element)
    sender_node = _child(message, "From")
    sender = _organization(sender_node) if sender_node is not None else Organization("")
    response_node = _child(message, "ResponseFor")
    if response_node is None:
        issues.add(MissingFieldError("MessageHeader/ResponseFor"), "MessageHeader/ResponseFor")
        response = ResponseFor()
    else:
        response = _response_for(response_node, "MessageHeader/ResponseFor", issues)
    code_text = _text(message, "StatusCode")
    if not code_text:
        raise MissingFieldError("MessageHeader/StatusCode")
    try:
        status = StatusCode(code_text)
    except ValueError:
        raise InvalidCodeListError(
            "StatusCode", code_text, "is not a status code (01-06, 13, 15, 16)"
        ) from None
    timestamp_text = _text(message, "Timestamp")
    timestamp = _timestamp(timestamp_text, "MessageHeader/Timestamp", issues)
    return StatusPackage(
        sender=sender,
        response_for=response,
        status_code=status,
        description=_text(message, "Description"),
        timestamp=timestamp,
        staff_info=_staff(_child(message, "StaffInfo")),
        trace_headers=_trace_headers(_child(header, "TraceHeaderList"), issues),
    )
