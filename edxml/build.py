"""Write a package model as EDXML bytes: the SDK's element order and namespaces.

The output is UTF-8 with an XML declaration; the root is
``<edXML xmlns="…QCVN_102_2016">`` and the envelope carries the ``edXML:``
prefix, as the VXP SDK writes it, with the attachments beside the envelope.
Empty text fields are omitted. No ``<Signature>``: ``signing`` adds it over
exactly these bytes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from typing import Any, cast

from lxml import etree

from edxml._dates import format_date, format_timestamp
from edxml._names import EDXML_NS, q
from edxml.errors import InvalidFieldError
from edxml.model import (
    Business,
    DocumentPackage,
    Organization,
    OtherInfo,
    ResponseFor,
    StaffInfo,
    StatusPackage,
    TraceHeader,
)

__all__ = ["build"]

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_PREFIXED = {"edXML": EDXML_NS}
_Element = etree._Element


def _text(parent: _Element, local: str, value: str | None, *, keep_empty: bool = False) -> None:
    if value is None or (value == "" and not keep_empty):
        return
    child = etree.SubElement(parent, q(local))
    try:
        child.text = value
    except ValueError:
        raise InvalidFieldError(local, value, "holds characters XML cannot carry") from None


def _int(value: int | None) -> str | None:
    return None if value is None else str(value)


def _organization(parent: _Element, local: str, org: Organization) -> None:
    node = etree.SubElement(parent, q(local))
    _text(node, "OrganId", org.organ_id, keep_empty=True)
    _text(node, "OrganizationInCharge", org.organization_in_charge)
    _text(node, "OrganName", org.organ_name)
    _text(node, "OrganAdd", org.organ_add)
    _text(node, "Email", org.email)
    _text(node, "Telephone", org.telephone)
    _text(node, "Fax", org.fax)
    _text(node, "Website", org.website)


def _staff(parent: _Element, staff: StaffInfo | None) -> None:
    if staff is None:
        return
    node = etree.SubElement(parent, q("StaffInfo"))
    _text(node, "Department", staff.department)
    _text(node, "Staff", staff.staff)
    _text(node, "Email", staff.email)
    _text(node, "Mobile", staff.mobile)


def _response_for(parent: _Element, response: ResponseFor) -> None:
    node = etree.SubElement(parent, q("ResponseFor"))
    _text(node, "OrganId", response.organ_id)
    _text(node, "Code", response.code)
    if response.promulgation_date is not None:
        _text(node, "PromulgationDate", format_date(response.promulgation_date))
    _text(node, "DocumentId", response.document_id)


def _other_info(parent: _Element, info: OtherInfo) -> None:
    node = etree.SubElement(parent, q("OtherInfo"))
    _text(node, "Priority", str(info.priority))
    _text(node, "SphereOfPromulgation", info.sphere_of_promulgation)
    _text(node, "TyperNotation", info.typer_notation)
    _text(node, "PromulgationAmount", _int(info.promulgation_amount))
    _text(node, "PageAmount", _int(info.page_amount))
    if info.direction is not None:
        _text(node, "Direction", "true" if info.direction else "false")
    if info.appendixes:
        appendixes = etree.SubElement(node, q("Appendixes"))
        for appendix in info.appendixes:
            _text(appendixes, "Appendix", appendix, keep_empty=True)


def _trace_headers(parent: _Element, traces: Iterable[TraceHeader]) -> None:
    for trace in traces:
        node = etree.SubElement(parent, q("TraceHeader"))
        _text(node, "OrganId", trace.organ_id)
        if trace.timestamp is not None:
            _text(node, "Timestamp", format_timestamp(trace.timestamp))


def _business(parent: _Element, business: Business) -> None:
    node = etree.SubElement(parent, q("Bussiness"))
    _text(node, "DocumentId", business.document_id)
    _text(node, "BussinessDocType", str(int(business.doc_type)))
    _text(node, "BussinessDocReason", business.reason)
    _text(node, "Paper", "1" if business.paper else "0")
    info = business.document_info
    if info is not None:
        info_node = etree.SubElement(node, q("BussinessDocumentInfo"))
        _text(info_node, "DocumentInfo", "1" if info.document_info else "0")
        _text(info_node, "DocumentReceiver", "1" if info.document_receiver else "0")
        if info.receivers:
            receivers = etree.SubElement(info_node, q("ReceiverList"))
            for receiver in info.receivers:
                receiver_node = etree.SubElement(receivers, q("Receiver"))
                _text(receiver_node, "OrganId", receiver.organ_id, keep_empty=True)
                _text(receiver_node, "ReceiverType", _int(receiver.receiver_type))
    if business.replacements:
        replacements = etree.SubElement(node, q("ReplacementInfoList"))
        for replacement in business.replacements:
            item = etree.SubElement(replacements, q("ReplacementInfo"))
            _text(item, "DocumentId", replacement.document_id, keep_empty=True)
            organs = etree.SubElement(item, q("OrganIdList"))
            for organ_id in replacement.organ_ids:
                _text(organs, "OrganId", organ_id, keep_empty=True)
    _staff(node, business.staff_info)


def _document_header(header: _Element, package: DocumentPackage) -> None:
    message = etree.SubElement(header, q("MessageHeader"))
    _organization(message, "From", package.sender)
    for recipient in package.recipients:
        _organization(message, "To", recipient)
    _text(message, "DocumentId", package.document_id, keep_empty=True)
    code = etree.SubElement(message, q("Code"))
    _text(code, "CodeNumber", package.code.number)
    _text(code, "CodeNotation", package.code.notation)
    promulgation = etree.SubElement(message, q("PromulgationInfo"))
    _text(promulgation, "Place", package.promulgation.place)
    if package.promulgation.date is not None:
        _text(promulgation, "PromulgationDate", format_date(package.promulgation.date))
    doc_type = etree.SubElement(message, q("DocumentType"))
    _text(doc_type, "Type", str(package.document_type.type))
    _text(doc_type, "TypeDetail", _int(package.document_type.type_detail))
    _text(doc_type, "TypeName", package.document_type.type_name)
    _text(message, "Subject", package.subject, keep_empty=True)
    _text(message, "Content", package.content)
    signer = etree.SubElement(message, q("SignerInfo"))
    _text(signer, "Competence", package.signer.competence)
    _text(signer, "Position", package.signer.position)
    _text(signer, "FullName", package.signer.full_name)
    if package.due_date is not None:
        _text(message, "DueDate", format_date(package.due_date))
    _other_info(message, package.other_info)
    _text(message, "SteeringType", _int(package.steering_type))
    if package.to_places:
        places = etree.SubElement(message, q("ToPlaces"))
        for place in package.to_places:
            _text(places, "Place", place, keep_empty=True)
    for response in package.response_for:
        _response_for(message, response)
    traces = etree.SubElement(header, q("TraceHeaderList"))
    _trace_headers(traces, package.trace_headers)
    _business(traces, package.business)


def _status_header(header: _Element, package: StatusPackage) -> None:
    message = etree.SubElement(header, q("MessageHeader"))
    _organization(message, "From", package.sender)
    _response_for(message, package.response_for)
    _staff(message, package.staff_info)
    _text(message, "StatusCode", package.status_code.value)
    _text(message, "Description", package.description)
    if package.timestamp is not None:
        _text(message, "Timestamp", format_timestamp(package.timestamp))
    if package.trace_headers:
        traces = etree.SubElement(header, q("TraceHeaderList"))
        _trace_headers(traces, package.trace_headers)


def build(package: DocumentPackage | StatusPackage) -> bytes:
    """The EDXML bytes of ``package`` (UTF-8, declaration, SDK order, unsigned)."""
    payloads: list[tuple[bytes, bytes]] = []
    root = etree.Element(q("edXML"), nsmap=cast(Any, {None: EDXML_NS}))
    envelope = etree.SubElement(root, q("edXMLEnvelope"), nsmap=_PREFIXED)
    header = etree.SubElement(envelope, q("edXMLHeader"))
    if isinstance(package, StatusPackage):
        _status_header(header, package)
    else:
        _document_header(header, package)
        body = etree.SubElement(envelope, q("edXMLBody"))
        manifest = etree.SubElement(body, q("edXMLManifest"), version="1.0")
        for attachment in package.attachments:
            reference = etree.SubElement(manifest, q("Reference"))
            _text(reference, "ContentId", attachment.content_id, keep_empty=True)
            _text(reference, "ContentType", attachment.content_type)
            _text(reference, "Description", attachment.description)
            _text(reference, "AttachmentName", attachment.name)
        if package.attachments:
            marker = uuid.uuid4().hex
            encoded = etree.SubElement(root, q("AttachmentEncoded"))
            for attachment in package.attachments:
                node = etree.SubElement(encoded, q("Attachment"))
                _text(node, "ContentId", attachment.content_id, keep_empty=True)
                _text(node, "AttachmentName", attachment.name)
                _text(node, "Description", attachment.description)
                _text(node, "ContentType", attachment.content_type)
                transfer = etree.SubElement(
                    node,
                    q("ContentTransferEncoded"),
                    nsmap=_PREFIXED,
                )
                token = f"{marker}-{len(payloads)}"
                transfer.text = token
                payloads.append((token.encode("ascii"), base64.b64encode(attachment.data)))
    etree.indent(root, space="  ")
    return _splice(_DECLARATION + etree.tostring(root, encoding="UTF-8"), payloads)


def _splice(skeleton: bytes, payloads: list[tuple[bytes, bytes]]) -> bytes:
    """Put each base64 payload where its token stands.

    Base64 is plain ASCII that needs no escaping, so it is joined into the
    serialised skeleton rather than handed to lxml, which would check and copy
    a megabyte of text twice. The output is byte for byte what lxml would write.
    """
    if not payloads:
        return skeleton
    parts: list[bytes] = []
    position = 0
    for token, payload in payloads:
        at = skeleton.index(token, position)
        parts += (skeleton[position:at], payload)
        position = at + len(token)
    parts.append(skeleton[position:])
    return b"".join(parts)
