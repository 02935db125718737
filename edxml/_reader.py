"""Read an EDXML element tree into the model, recording every problem met.

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

from edxml._dates import known_date, known_timestamp, parse_date, parse_timestamp
from edxml._issues import Issues
from edxml._names import EDXML_NS, children, find_path
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
_TRACE_LIST = _PREFIX + "TraceHeaderList"


class _Node:
    """An element with its EDXML children read once, in one pass, when it is met.

    A child without children of its own is kept as its stripped text; any other
    child (a container, or a field holding a comment) as a ``_Node`` of its own.
    The header is a few dozen elements: reading each once beats looking fields up
    in the tree one by one. A document's MessageHeader and trace list are read
    without nodes (``read_document``: each record's fields straight into their
    places); nodes read status packages and the rarer parts of ``Bussiness``, and
    define what those direct reads must give.
    """

    __slots__ = ("element", "fields")

    def __init__(self, element: _Element | None) -> None:
        self.element = element
        fields: dict[str, list[str | _Node]] = {}
        if element is not None:
            for child in children(element):
                tag = child.tag
                if tag.__class__ is not str or not tag.startswith(_PREFIX):
                    continue  # a comment, a processing instruction, another namespace
                value: str | _Node = _Node(child) if len(child) else (child.text or "").strip()
                local = tag[_SKIP:]
                bucket = fields.get(local)
                if bucket is None:
                    fields[local] = [value]
                else:
                    bucket.append(value)
        self.fields = fields


#: Where an element is present but empty: a node with no fields.
_EMPTY = _Node(None)


def _as_node(value: str | _Node) -> _Node:
    return value if isinstance(value, _Node) else _EMPTY


def _child(parent: _Node | None, local: str) -> _Node | None:
    if parent is None:
        return None
    found = parent.fields.get(local)
    return _as_node(found[0]) if found else None


def _children(parent: _Node | None, local: str) -> list[_Node]:
    return [] if parent is None else [_as_node(v) for v in parent.fields.get(local, ())]


def _texts(parent: _Node | None, local: str) -> list[str]:
    return [] if parent is None else [_value_text(v) for v in parent.fields.get(local, ())]


def _element_text(element: _Element) -> str:
    """Text of an element, comments inside it skipped."""
    if not len(element):
        return (element.text or "").strip()
    return "".join(str(t) for t in element.itertext(with_tail=True)).strip()


def _value_text(value: str | _Node) -> str:
    if isinstance(value, str):
        return value
    return "" if value.element is None else _element_text(value.element)


def _text(parent: _Node | None, local: str) -> str:
    # The reader's innermost call (about fifty per package): kept to one function.
    if parent is None:
        return ""
    found = parent.fields.get(local)
    if not found:
        return ""
    value = found[0]
    if isinstance(value, str):
        return value
    return "" if value.element is None else _element_text(value.element)


def _trace_list(header: _Element, found: _Element | None) -> _Node | None:
    """The header's first ``TraceHeaderList`` (``found``, when the caller met it)."""
    if found is None:
        found = find_path(header, _TRACE_LIST)
    return None if found is None else _Node(found)


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
    if not text:
        return None
    # The same few dates come again and again: read once, refused the full way.
    known = known_date(text)
    if known is not None:
        return known
    return _convert(text, path, issues, lambda t: parse_date(t, path), None)


def _timestamp(text: str, path: str, issues: Issues) -> datetime | None:
    if not text:
        return None
    known = known_timestamp(text)
    if known is not None:
        return known
    return _convert(text, path, issues, lambda t: parse_timestamp(t, path), None)


_ORGANIZATION = (
    "OrganId",
    "OrganizationInCharge",
    "OrganName",
    "OrganAdd",
    "Email",
    "Telephone",
    "Fax",
    "Website",
)
_STAFF = ("Department", "Staff", "Email", "Mobile")


def _record(node: _Node, names: tuple[str, ...]) -> list[str]:
    """The texts of ``names`` under ``node``, in that order (a record of plain fields)."""
    get = node.fields.get
    texts: list[str] = []
    append = texts.append
    for name in names:
        found = get(name)
        if not found:
            append("")
        else:
            value = found[0]
            append(value if value.__class__ is str else _value_text(value))
    return texts


#: Record texts longer than this in all are never remembered.
_MEMO_TEXT = 1024


#: The organisations met, by their joined texts (a router meets the same few senders
#: and recipients all day; an Organization is immutable): emptied when full.
_ORGANIZATIONS: dict[str, Organization] = {}
_MEMO_ORGANIZATIONS = 4096


def _known_organization(texts: list[str]) -> Organization:
    """The Organization of ``texts`` (its eight fields), each distinct one built once."""
    # One key for the whole record: XML text never holds a NUL, so the joined texts
    # tell records apart, and one string is hashed instead of eight.
    key = "\x00".join(texts)
    found = _ORGANIZATIONS.get(key)
    if found is None:
        found = Organization(*texts)
        if len(key) <= _MEMO_TEXT:  # a long record is built every time
            if len(_ORGANIZATIONS) >= _MEMO_ORGANIZATIONS:
                _ORGANIZATIONS.clear()
            _ORGANIZATIONS[key] = found
    return found


def _organization(node: _Node) -> Organization:
    # A router meets the same few senders and recipients all day; an Organization is
    # immutable, so each distinct one is built once.
    texts = _record(node, _ORGANIZATION)
    return _known_organization(texts)


def _staff(node: _Node | None) -> StaffInfo | None:
    return None if node is None else StaffInfo(*_record(node, _STAFF))


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
            organ_ids=tuple(_texts(_child(item, "OrganIdList"), "OrganId")),
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


def _q(*names: str) -> dict[str, int]:
    """Each EDXML tag of a record, to its place in the record."""
    return {_PREFIX + name: index for index, name in enumerate(names)}


def _fields(element: _Element | None, slots: dict[str, int], count: int) -> list[str]:
    """The texts of a record's fields, each the first of its tag (an absent field, or a
    field of a record that is absent or has no children, is ``""``).

    The children are read last to first, so the first of a repeated tag is what
    stays, as the node pass's first value is."""
    texts = [""] * count
    if element is not None:
        get = slots.get
        for child in reversed(children(element)):
            index = get(child.tag)  # a comment's tag is a function: never a slot
            if index is not None:
                texts[index] = _element_text(child)
    return texts


def _all_texts(element: _Element | None, tag: str) -> tuple[str, ...]:
    """The texts of every ``tag`` child, in order."""
    if element is None:
        return ()
    return tuple(_element_text(child) for child in children(element) if child.tag == tag)


_ORGANIZATION_SLOTS = _q(*_ORGANIZATION)
_CODE_SLOTS = _q("CodeNumber", "CodeNotation")
_PROMULGATION_SLOTS = _q("Place", "PromulgationDate")
_TYPE_SLOTS = _q("Type", "TypeDetail", "TypeName")
_SIGNER_SLOTS = _q("Competence", "Position", "FullName")
_RESPONSE_SLOTS = _q("OrganId", "Code", "PromulgationDate", "DocumentId")
_TRACE_SLOTS = _q("OrganId", "Timestamp")
_OTHER_SLOTS = _q(
    "Priority",
    "SphereOfPromulgation",
    "TyperNotation",
    "PromulgationAmount",
    "PageAmount",
    "Direction",
)
_TO, _RESPONSE_FOR = _PREFIX + "To", _PREFIX + "ResponseFor"
_FROM, _CODE, _PROMULGATION_INFO = _PREFIX + "From", _PREFIX + "Code", _PREFIX + "PromulgationInfo"
_DOCUMENT_TYPE, _SIGNER_INFO = _PREFIX + "DocumentType", _PREFIX + "SignerInfo"
_OTHER_INFO, _TO_PLACES = _PREFIX + "OtherInfo", _PREFIX + "ToPlaces"
_MESSAGE_LEAF_SLOTS = _q("DocumentId", "Subject", "Content", "DueDate", "SteeringType")
_PLACE, _APPENDIX, _APPENDIXES = _PREFIX + "Place", _PREFIX + "Appendix", _PREFIX + "Appendixes"
_TRACE_HEADER, _BUSINESS = _PREFIX + "TraceHeader", _PREFIX + "Bussiness"


def _organization_of(element: _Element) -> Organization:
    """An organisation record (a package has one per recipient), remembered by its texts."""
    return _known_organization(_fields(element, _ORGANIZATION_SLOTS, len(_ORGANIZATION_SLOTS)))


def _container(element: _Element | None) -> _Element | None:
    """A record read as a container: one without children holds no fields."""
    return element if element is not None and len(element) else None


#: What an OtherInfo of no more than a Priority of 0 reads as.
_NO_OTHER_INFO = OtherInfo()


def _other_info_of(element: _Element | None, issues: Issues) -> OtherInfo:
    if element is None:
        return _NO_OTHER_INFO
    path = "MessageHeader/OtherInfo"
    texts = ["", "", "", "", "", ""]
    appendixes_element = None
    get = _OTHER_SLOTS.get
    for child in reversed(children(element)):
        tag = child.tag
        index = get(tag)
        if index is not None:
            texts[index] = _element_text(child)
        elif tag == _APPENDIXES:  # the first Appendixes holds the list
            appendixes_element = child
    priority, sphere, typer, amount, pages, direction = texts
    if (
        appendixes_element is None
        and priority in ("", "0")
        and not (sphere or typer or amount or pages or direction)
    ):
        return _NO_OTHER_INFO
    return OtherInfo(
        priority=_optional_int(priority, f"{path}/Priority", issues) or 0,
        sphere_of_promulgation=sphere,
        typer_notation=typer,
        promulgation_amount=_optional_int(amount, f"{path}/PromulgationAmount", issues),
        page_amount=_optional_int(pages, f"{path}/PageAmount", issues),
        direction=_flag(direction, f"{path}/Direction", issues),
        appendixes=_all_texts(_container(appendixes_element), _APPENDIX),
    )


def _trace_list_of(
    header: _Element, found: _Element | None
) -> tuple[list[_Element], _Element | None]:
    """The TraceHeader elements and the first Bussiness of the header's first
    TraceHeaderList (``found``, when the caller met it)."""
    if found is None:
        found = find_path(header, _TRACE_LIST)
    traces: list[_Element] = []
    business = None
    if found is not None:
        for child in children(found):
            tag = child.tag
            if tag == _TRACE_HEADER:
                traces.append(child)
            elif tag == _BUSINESS and business is None:
                business = child
    return traces, business


def read_document(
    header_element: _Element,
    message_element: _Element,
    issues: Issues,
    attachments: Callable[[], tuple[Attachment, ...]] = tuple,
    *,
    trace_list: _Element | None = None,
) -> DocumentPackage:
    """The document package: its header fields, then ``attachments()`` (read last, so
    problems are recorded in document order; no copy of the package is made to add
    them). ``trace_list`` is the header's first TraceHeaderList when the caller met
    it (else it is looked up).

    The MessageHeader's children are met once, each record's fields read straight
    into their places: what the node pass (still used for status packages and the
    rarer parts of ``Bussiness``) reads, without a node per element."""
    # Read last to first: the first of a repeated tag is what stays.
    first: dict[object, _Element] = {}
    recipients_elements: list[_Element] = []
    responses: list[_Element] = []
    leaves = ["", "", "", "", ""]  # DocumentId, Subject, Content, DueDate, SteeringType
    leaf_slot = _MESSAGE_LEAF_SLOTS.get
    for child in reversed(children(message_element)):
        tag = child.tag
        index = leaf_slot(tag)
        if index is not None:
            leaves[index] = _element_text(child)
        elif tag == _TO:
            recipients_elements.append(child)
        elif tag == _RESPONSE_FOR:
            responses.append(child)
        else:
            first[tag] = child
    recipients_elements.reverse()
    responses.reverse()
    message_document_id, subject, content, due_date, steering_type = leaves
    get = first.get
    sender_element = get(_FROM)
    sender = Organization("") if sender_element is None else _organization_of(sender_element)
    recipients = tuple(_organization_of(element) for element in recipients_elements)
    place, promulgation_date = _fields(get(_PROMULGATION_INFO), _PROMULGATION_SLOTS, 2)
    type_text, type_detail, type_name = _fields(get(_DOCUMENT_TYPE), _TYPE_SLOTS, 3)
    competence, position, full_name = _fields(get(_SIGNER_INFO), _SIGNER_SLOTS, 3)
    traces, business_element = _trace_list_of(header_element, trace_list)
    response_for = []
    for index, element in enumerate(responses, start=1):
        path = f"MessageHeader/ResponseFor[{index}]"
        organ_id, code, date_text, document_id = _fields(element, _RESPONSE_SLOTS, 4)
        response_for.append(
            ResponseFor(
                organ_id=organ_id,
                code=code,
                promulgation_date=_date(date_text, f"{path}/PromulgationDate", issues),
                document_id=document_id,
            )
        )
    number, notation = _fields(get(_CODE), _CODE_SLOTS, 2)
    to_places = _all_texts(_container(get(_TO_PLACES)), _PLACE)
    return DocumentPackage(
        sender=sender,
        recipients=recipients,
        document_id=message_document_id,
        code=DocumentCode(number=number, notation=notation),
        promulgation=PromulgationInfo(
            place=place,
            date=_date(
                promulgation_date, "MessageHeader/PromulgationInfo/PromulgationDate", issues
            ),
        ),
        document_type=DocumentType(
            type=_optional_int(type_text, "MessageHeader/DocumentType/Type", issues) or 0,
            type_detail=_optional_int(type_detail, "MessageHeader/DocumentType/TypeDetail", issues),
            type_name=type_name,
        ),
        subject=subject,
        content=content,
        signer=SignerInfo(competence=competence, position=position, full_name=full_name),
        due_date=_date(due_date, "MessageHeader/DueDate", issues),
        other_info=_other_info_of(get(_OTHER_INFO), issues),
        steering_type=_optional_int(steering_type, "MessageHeader/SteeringType", issues),
        to_places=to_places,
        response_for=tuple(response_for),
        trace_headers=_traces_of(traces, issues),
        business=_business_of(business_element, issues),
        attachments=attachments(),
    )


#: What a new document's ``Bussiness`` (a BussinessDocType of 0, then at most a Paper
#: of 0, as ``build`` writes it) reads as.
_NEW_BUSINESS = Business()
_NEW_BUSINESS_FIELDS = ((_PREFIX + "BussinessDocType", "0"), (_PREFIX + "Paper", "0"))


def _is_new_business(element: _Element) -> bool:
    count = len(element)
    if not 0 < count <= 2:
        return False
    for child, (tag, text) in zip(children(element), _NEW_BUSINESS_FIELDS, strict=False):
        if child.tag != tag or len(child) or (child.text or "").strip() != text:
            return False
    return True


def _business_of(element: _Element | None, issues: Issues) -> Business:
    """The node pass's reading of ``Bussiness``, but for the common one of a new
    document, which is known without it."""
    if element is not None and _is_new_business(element):
        return _NEW_BUSINESS
    return _business(
        None if element is None else (_Node(element) if len(element) else _EMPTY), issues
    )


def _traces_of(elements: list[_Element], issues: Issues) -> tuple[TraceHeader, ...]:
    traces = []
    for index, element in enumerate(elements, start=1):
        organ_id, timestamp = _fields(element, _TRACE_SLOTS, 2)
        traces.append(
            TraceHeader(
                organ_id=organ_id,
                timestamp=_timestamp(
                    timestamp, f"TraceHeaderList/TraceHeader[{index}]/Timestamp", issues
                ),
            )
        )
    return tuple(traces)


def read_status(
    header_element: _Element,
    message_element: _Element,
    issues: Issues,
    *,
    trace_list: _Element | None = None,
) -> StatusPackage:
    """The status package. An absent or unknown StatusCode raises in every mode.
    ``trace_list`` as for :func:`read_document`."""
    message = _Node(message_element)
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
        trace_headers=_trace_headers(_trace_list(header_element, trace_list), issues),
    )
