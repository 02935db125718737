"""build's output shape, the factories, and the semantic rules of strict mode."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import date

import pytest
from lxml import etree

import edxml
from tests.edxml.helpers import WHEN, make_package

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def test_build_writes_the_sdk_envelope() -> None:
    data = edxml.build(make_package(attachments=[edxml.Attachment("cid:1", "a.txt", data=b"x")]))
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML xmlns="' + NS.encode())
    assert b'<edXML:edXMLEnvelope xmlns:edXML="' + NS.encode() + b'">' in data
    assert b"<AttachmentEncoded>" in data
    assert b'<edXML:ContentTransferEncoded xmlns:edXML="' in data
    assert b"Signature" not in data
    assert "Về việc triển khai".encode() in data


def test_build_writes_the_sdk_element_order() -> None:
    package = dataclasses.replace(
        make_package(due_date=date(2026, 4, 1), to_places=["Các bộ"]),
        response_for=(edxml.ResponseFor("000.00.00.H41", "1/UBND", date(2026, 1, 1), "x"),),
    )
    root = etree.fromstring(edxml.build(package))
    header = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader/{{{NS}}}MessageHeader")
    assert header is not None
    order = [etree.QName(child).localname for child in header]
    assert order == [
        "From", "To", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType",
        "Subject", "SignerInfo", "DueDate", "OtherInfo", "ToPlaces", "ResponseFor",
    ]  # fmt: skip


def test_build_refuses_text_xml_cannot_carry() -> None:
    with pytest.raises(edxml.InvalidFieldError):
        edxml.build(make_package(subject="bad \x01 control"))


def test_new_document_fills_id_and_trace() -> None:
    package = make_package()
    assert package.document_id == "000.00.00.G22,2026/03/02,15/VPCP-TH"
    assert package.parsed_document_id == edxml.DocumentId.parse(package.document_id)
    assert package.trace_headers == (edxml.TraceHeader("000.00.00.G22", WHEN),)
    assert package.business.doc_type is edxml.BusinessDocType.NEW
    assert package.kind == "document"
    assert package.sender_code == "000.00.00.G22"
    assert package.recipient_codes == ("000.00.00.H41", "000.00.24.H44")
    assert edxml.parse(edxml.build(package)).package == package


def test_new_document_default_date_is_today_in_vietnam() -> None:
    package = edxml.new_document(
        "000.00.00.G22", ["000.00.00.H41"], number="1", notation="X", subject="s", signer_name="A"
    )
    assert package.promulgation.date == edxml.now_in_vietnam().date()
    assert package.trace_headers[0].timestamp is not None
    assert package.trace_headers[0].timestamp.utcoffset() is not None


def test_revocation_names_its_target() -> None:
    original = make_package()
    revocation = make_package(
        number="16",
        business=edxml.BusinessDocType.REVOCATION,
        target_document_id=original.document_id,
        reason="Thu hồi do sai sót",
    )
    result = edxml.parse(edxml.build(revocation))
    assert result.package == revocation
    assert revocation.business.targets == (original.document_id,)
    missing = dataclasses.replace(
        revocation, business=dataclasses.replace(revocation.business, document_id="")
    )
    with pytest.raises(edxml.MissingFieldError):
        edxml.parse(edxml.build(missing))
    tolerant = edxml.parse(edxml.build(missing), mode=edxml.Mode.TOLERANT)
    assert "missing-business-target" in tolerant.deviation_codes


def test_document_id_must_agree_with_the_header() -> None:
    package = dataclasses.replace(make_package(), document_id="000.00.00.H41,2026/03/02,15/VPCP-TH")
    with pytest.raises(edxml.InvalidDocumentIdError) as caught:
        edxml.parse(edxml.build(package))
    assert "From" in str(caught.value)
    tolerant = edxml.parse(edxml.build(package), mode=edxml.Mode.TOLERANT)
    assert tolerant.deviation_codes == ("document-id-mismatch",)


def test_due_date_cannot_precede_promulgation() -> None:
    package = make_package(due_date=date(2026, 3, 1))
    with pytest.raises(edxml.InvalidDateError) as caught:
        edxml.parse(edxml.build(package))
    assert caught.value.field == "MessageHeader/DueDate"
    tolerant = edxml.parse(edxml.build(package), mode=edxml.Mode.TOLERANT)
    assert tolerant.deviation_codes == ("due-date-before-promulgation",)
    assert edxml.parse(edxml.build(make_package(due_date=date(2026, 3, 2)))).deviations == ()


def test_status_answers_a_document() -> None:
    document = make_package()
    status = edxml.new_status(
        "000.00.00.H41", document, edxml.StatusCode.ACCEPTED, "Đã vào sổ", timestamp=WHEN
    )
    assert status.kind == "status"
    assert status.sender_code == "000.00.00.H41"
    assert status.document_id == document.document_id
    assert status.response_for.organ_id == "000.00.00.G22"
    assert status.response_for.code == "15/VPCP-TH"
    data = edxml.build(status)
    assert edxml.parse(data).package == status
    assert edxml.detect_kind(edxml.safe_fromstring(data)) == "status"


def test_refusal_needs_a_reason() -> None:
    status = edxml.new_status(
        "000.00.00.H41", make_package(), edxml.StatusCode.REFUSED, "", timestamp=WHEN
    )
    with pytest.raises(edxml.MissingFieldError):
        edxml.parse(edxml.build(status))


@pytest.mark.parametrize(
    ("field", "error"),
    [
        ("<edXML:CodeNumber>15</edXML:CodeNumber>", edxml.MissingFieldError),
        ("<edXML:FullName>Nguyễn Văn A</edXML:FullName>", edxml.MissingFieldError),
        ("<edXML:Type>1</edXML:Type>", edxml.MissingFieldError),
    ],
)
def test_each_mandatory_field(field: str, error: type[edxml.EdxmlError]) -> None:
    data = edxml.build(make_package()).replace(field.encode(), b"")
    with pytest.raises(error):
        edxml.parse(data)
    assert edxml.parse(data, mode=edxml.Mode.TOLERANT).deviations


def test_invalid_number_field_is_named() -> None:
    data = edxml.build(make_package()).replace(b"<edXML:Priority>0<", b"<edXML:Priority>high<")
    with pytest.raises(edxml.InvalidFieldError) as caught:
        edxml.parse(data)
    assert caught.value.field == "MessageHeader/OtherInfo/Priority"


def test_schema_error_lists_every_problem() -> None:
    data = edxml.build(make_package())
    swapped = re.sub(
        rb"(<edXML:DocumentType>.*?</edXML:DocumentType>)(\s*)(<edXML:Subject>.*?</edXML:Subject>)",
        rb"\3\2\1",
        data,
        flags=re.S,
    )
    assert swapped != data
    with pytest.raises(edxml.SchemaError) as caught:
        edxml.parse(swapped)
    assert caught.value.problems
    assert "unexpected-element" in edxml.parse(swapped, mode="tolerant").deviation_codes  # type: ignore[arg-type]


def test_sender_code_of_any_node() -> None:
    root = edxml.safe_fromstring(edxml.build(make_package()))
    assert edxml.sender_code_of(root) == "000.00.00.G22"
    deep = root.find(f".//{{{NS}}}Subject")
    assert deep is not None
    assert edxml.sender_code_of(deep) == "000.00.00.G22"
    assert edxml.sender_code_of(root.getroottree()) == "000.00.00.G22"  # type: ignore[arg-type]
    with pytest.raises(edxml.NotEdxmlError):
        edxml.sender_code_of(etree.fromstring(b"<other/>"))


def test_models_are_frozen() -> None:
    package = make_package()
    with pytest.raises(dataclasses.FrozenInstanceError):
        package.subject = "x"  # type: ignore[misc]


def test_public_api_is_explicit() -> None:
    for name in edxml.__all__:
        assert hasattr(edxml, name), name
    for name in ["parse", "build", "Mode", "Limits", "ParseResult", "Deviation", "SignatureInfo",
                 "AgencyCode", "DocumentId", "new_document", "new_status", "safe_fromstring",
                 "sender_code_of", "package_digest", "StatusCode", "BusinessDocType"]:  # fmt: skip
        assert name in edxml.__all__


def test_edxml_imports_no_io_library() -> None:
    code = (
        "import sys, edxml; "
        "names = ('aiokafka', 'sqlalchemy', 'fastavro', 'click', 'alembic', 'signing', 'bus'); "
        "print([m for m in names if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        edxml.Limits(max_depth=0)
