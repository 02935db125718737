"""Every field: read back as written, and each bad value named with its path."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

import edxml
from tests.edxml.helpers import WHEN, make_package

UPDATE_TARGET = "000.00.00.G22,2026/02/01,9/VPCP-TH"


def _full_update() -> edxml.DocumentPackage:
    base = make_package(
        number="16",
        place="Hà Nội",
        content="Nội dung cập nhật",
        signer_competence="KT. BỘ TRƯỞNG",
        signer_position="Thứ trưởng",
        due_date=date(2026, 4, 1),
        business=edxml.BusinessDocType.UPDATE,
        target_document_id=UPDATE_TARGET,
        reason="Cập nhật phụ lục",
        to_places=["Các bộ", "UBND các tỉnh"],
        staff=edxml.StaffInfo("Văn thư", "Trần Thị B", "vanthu@gov.vn", "84912000001"),
        paper=True,
        response_for=[
            edxml.ResponseFor("000.00.00.H41", "3/UBND-VX", date(2026, 1, 5), UPDATE_TARGET)
        ],
    )
    return dataclasses.replace(
        base,
        document_type=edxml.DocumentType(1, 2, "Công văn"),
        other_info=edxml.OtherInfo(1, "Liên thông", "TVC", 10, 3, True, ("Phụ lục I",)),
        steering_type=1,
        business=dataclasses.replace(
            base.business,
            document_info=edxml.BusinessDocumentInfo(
                True, True, (edxml.Receiver("000.00.00.H41", 0), edxml.Receiver("000.00.00.H14", 1))
            ),
        ),
    )


FULL = _full_update()
DATA = edxml.build(FULL)


def test_every_field_reads_back() -> None:
    package = edxml.parse(DATA).package
    assert package == FULL
    assert isinstance(package, edxml.DocumentPackage)
    assert package.other_info.direction is True
    assert package.business.paper is True
    assert package.business.document_info is not None
    assert package.business.document_info.receivers[1] == edxml.Receiver("000.00.00.H14", 1)
    assert package.response_for[0].promulgation_date == date(2026, 1, 5)
    assert package.document_type.type_detail == 2
    assert package.trace_headers[0].timestamp == WHEN


def _replace_once(data: bytes, old: str, new: str) -> bytes:
    assert data.count(old.encode()) >= 1, old
    return data.replace(old.encode(), new.encode(), 1)


@pytest.mark.parametrize(
    ("old", "new", "error", "code", "path"),
    [
        ("<edXML:TypeDetail>2<", "<edXML:TypeDetail>two<", edxml.InvalidFieldError,
         "invalid-field", "MessageHeader/DocumentType/TypeDetail"),
        ("<edXML:Type>1<", "<edXML:Type>one<", edxml.InvalidFieldError,
         "invalid-field", "MessageHeader/DocumentType/Type"),
        ("<edXML:PageAmount>3<", "<edXML:PageAmount>ba<", edxml.InvalidFieldError,
         "invalid-field", "MessageHeader/OtherInfo/PageAmount"),
        ("<edXML:PromulgationAmount>10<", "<edXML:PromulgationAmount>x<",
         edxml.InvalidFieldError, "invalid-field", "MessageHeader/OtherInfo/PromulgationAmount"),
        ("<edXML:Direction>true<", "<edXML:Direction>yes<", edxml.InvalidFieldError,
         "invalid-field", "MessageHeader/OtherInfo/Direction"),
        ("<edXML:SteeringType>1<", "<edXML:SteeringType>x<", edxml.InvalidFieldError,
         "invalid-field", "MessageHeader/SteeringType"),
        ("<edXML:Paper>1<", "<edXML:Paper>maybe<", edxml.InvalidFieldError,
         "invalid-field", "TraceHeaderList/Bussiness/Paper"),
        ("<edXML:ReceiverType>1<", "<edXML:ReceiverType>x<", edxml.InvalidFieldError,
         "invalid-field", "TraceHeaderList/Bussiness/BussinessDocumentInfo/Receiver/ReceiverType"),
        ("<edXML:DueDate>2026/04/01<", "<edXML:DueDate>2026/13/01<", edxml.InvalidDateError,
         "invalid-date", "MessageHeader/DueDate"),
        ("<edXML:Timestamp>2026/03/02 09:30:00<", "<edXML:Timestamp>2026/03/02<",
         edxml.InvalidDateError, "invalid-date", "TraceHeaderList/TraceHeader[1]/Timestamp"),
        ("<edXML:PromulgationDate>2026/01/05<", "<edXML:PromulgationDate>5/1/2026<",
         edxml.InvalidDateError, "invalid-date", "MessageHeader/ResponseFor[1]/PromulgationDate"),
        ("<edXML:OrganId>000.00.24.H44<", "<edXML:OrganId>H44<", edxml.InvalidAgencyCodeError,
         "invalid-agency-code", "MessageHeader/To[2]/OrganId"),
        ("<edXML:OrganId>000.00.00.H14<", "<edXML:OrganId>null<", edxml.InvalidAgencyCodeError,
         "null-organ-id",
         "TraceHeaderList/Bussiness/BussinessDocumentInfo/ReceiverList/Receiver[2]/OrganId"),
        (f"{UPDATE_TARGET}</edXML:DocumentId>\n        </edXML:ResponseFor>",
         "abc</edXML:DocumentId></edXML:ResponseFor>",
         edxml.InvalidDocumentIdError, "non-standard-document-id",
         "MessageHeader/ResponseFor[1]/DocumentId"),
        (f"{UPDATE_TARGET}</edXML:DocumentId>\n          <edXML:BussinessDocType>",
         "000.00.00.G22,2026/02/31,9/VPCP-TH</edXML:DocumentId><edXML:BussinessDocType>",
         edxml.InvalidDocumentIdError, "invalid-document-id",
         "TraceHeaderList/Bussiness/DocumentId"),
    ],
)  # fmt: skip
def test_each_bad_value_is_named(
    old: str, new: str, error: type[edxml.EdxmlError], code: str, path: str
) -> None:
    data = _replace_once(DATA, old, new)
    with pytest.raises(error):
        edxml.parse(data)
    deviations = edxml.parse(data, mode=edxml.Mode.TOLERANT).deviations
    assert (code, path) in [(d.code, d.path) for d in deviations], deviations


def test_replacement_fields() -> None:
    replaced = (
        edxml.ReplacementInfo(UPDATE_TARGET, ("000.00.00.H41", "000.00.24.H44")),
        edxml.ReplacementInfo("000.00.00.G22,2026/02/02,10/VPCP-TH", ()),
    )
    package = make_package(business=edxml.BusinessDocType.REPLACEMENT, replaced=replaced)
    assert package.business.targets == (UPDATE_TARGET, "000.00.00.G22,2026/02/02,10/VPCP-TH")
    assert edxml.parse(edxml.build(package)).package == package
    empty = make_package(business=edxml.BusinessDocType.REPLACEMENT)
    with pytest.raises(edxml.MissingFieldError):
        edxml.parse(edxml.build(empty))


def test_status_fields() -> None:
    status = edxml.new_status(
        edxml.Organization("000.00.00.H41", organ_name="UBND Tỉnh Nghệ An"),
        FULL,
        edxml.StatusCode.PROCESSING,
        "Đang xử lý",
        staff=edxml.StaffInfo("Văn phòng", "Lê C", "", "0912"),
        timestamp=WHEN,
    )
    data = edxml.build(status)
    assert edxml.parse(data).package == status
    bad = _replace_once(
        data,
        "<edXML:Timestamp>2026/03/02 09:30:00</edXML:Timestamp>\n      </edXML:MessageHeader>",
        "</edXML:MessageHeader>",
    )
    with pytest.raises(edxml.MissingFieldError) as caught:
        edxml.parse(bad)
    assert caught.value.field == "MessageHeader/Timestamp"
