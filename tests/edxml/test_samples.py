"""Every field sample parses in tolerant mode with its quirks named, and strict mode
names what is wrong with each."""

from __future__ import annotations

from pathlib import Path

import pytest

import edxml
from tests.fixtures.samples import sample_files

SAMPLES = sample_files()

#: Deviation codes each sample must report (its known quirks, samples/README.md).
EXPECTED_QUIRKS: dict[str, set[str]] = {
    "edoc_new.edxml": {
        "due-date-before-promulgation",
        "stray-bytes-before-xml",
        "signature-without-namespace",
        "invalid-agency-code",
        "invalid-document-id",
        "document-id-mismatch",
    },
    "edoc.edxml": {
        "placeholder-attachment",
        "undeclared-namespace-prefix",
        "non-standard-document-id",
        "empty-response-for",
        "missing-business",
        "invalid-agency-code",
    },
    "edoc_update.edxml": {"signature-without-namespace", "invalid-document-id"},
    "edoc_replacement.edxml": {"signature-without-namespace", "document-id-mismatch"},
    "edoc_revocation.edxml": {"signature-without-namespace", "missing-business-target"},
    "unsigned-three-attachments.edxml": {
        "invalid-agency-code",
        "non-standard-document-id",
        "unexpected-element",
    },
    "852e179c-8eca-4502-ac38-0b97321f29c3.edxml": {
        "signature-without-namespace",
        "content-type-mismatch",
        "non-standard-document-id",
        "empty-response-for",
        "missing-business",
    },
    "874e0f18-90dc-45fb-989a-65401470ba84.edxml": {
        "null-organ-id",
        "missing-field",
        "invalid-agency-code",
        "non-standard-document-id",
    },
    "9e272474-0603-48a2-b525-9cd1af689612.edxml": {"null-organ-id", "missing-business"},
    "status.edxml": {"unexpected-element"},
}

#: The error strict mode raises first for each sample.
STRICT_ERRORS: dict[str, type[edxml.EdxmlError]] = {
    "edoc_new.edxml": edxml.MalformedXmlError,
    "edoc.edxml": edxml.MalformedXmlError,
    "edoc_update.edxml": edxml.SchemaError,
    "edoc_replacement.edxml": edxml.SchemaError,
    "edoc_revocation.edxml": edxml.SchemaError,
    "unsigned-three-attachments.edxml": edxml.InvalidAgencyCodeError,
    "852e179c-8eca-4502-ac38-0b97321f29c3.edxml": edxml.MissingFieldError,
    "874e0f18-90dc-45fb-989a-65401470ba84.edxml": edxml.MissingFieldError,
    "9e272474-0603-48a2-b525-9cd1af689612.edxml": edxml.MissingFieldError,
}


def test_all_samples_are_there(samples_dir: Path) -> None:
    assert len(SAMPLES) == 19
    assert set(EXPECTED_QUIRKS) <= {path.name for path in SAMPLES}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_tolerant_reads_every_sample_and_names_its_quirks(path: Path) -> None:
    result = edxml.parse(path.read_bytes(), mode=edxml.Mode.TOLERANT)
    assert result.deviations, "every field sample departs from the standard somewhere"
    assert EXPECTED_QUIRKS.get(path.name, set()) <= set(result.deviation_codes)
    for deviation in result.deviations:
        assert deviation.code == deviation.code.lower()
        assert " " not in deviation.code
        assert deviation.message
    package = result.package
    assert package.sender_code
    if path.name.startswith("status"):
        assert package.kind == "status"
        assert isinstance(package, edxml.StatusPackage)
        assert package.status_code.value in path.name or path.name == "status.edxml"
    else:
        assert package.kind == "document"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_strict_names_what_is_wrong_with_every_sample(path: Path) -> None:
    with pytest.raises(edxml.EdxmlError) as caught:
        edxml.parse(path.read_bytes())
    expected = STRICT_ERRORS.get(path.name, edxml.SchemaError)
    assert type(caught.value) is expected
    assert str(caught.value)
    assert caught.value.reason_code


def test_vietnamese_text_survives(samples_dir: Path) -> None:
    data = (samples_dir / "vxp-sdk" / "edoc_new.edxml").read_bytes()
    package = edxml.parse(data, mode=edxml.Mode.TOLERANT).package
    assert isinstance(package, edxml.DocumentPackage)
    assert package.subject == "V/v kết nối, liên thông phần mềm quản lý văn bản"
    assert package.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert package.recipients[0].organization_in_charge.startswith("UBND xã Hòa Sơn")


def test_sdk_zip_attachments_unwrap(samples_dir: Path) -> None:
    data = (samples_dir / "gateway" / "unsigned-three-attachments.edxml").read_bytes()
    package = edxml.parse(data, mode=edxml.Mode.TOLERANT).package
    assert isinstance(package, edxml.DocumentPackage)
    assert [a.name for a in package.attachments] == ["localA.txt", "localB.txt", "localC.txt"]
    for attachment in package.attachments:
        assert attachment.is_zipped
        assert attachment.content_id.startswith("cid:")
        files = attachment.files()
        assert len(files) == 1
        assert files[0][1]  # a non-empty text file inside


def test_business_parts_of_update_and_replacement(samples_dir: Path) -> None:
    update = edxml.parse(
        (samples_dir / "vxp-sdk" / "edoc_update.edxml").read_bytes(), mode=edxml.Mode.TOLERANT
    ).package
    assert isinstance(update, edxml.DocumentPackage)
    assert update.business.doc_type is edxml.BusinessDocType.UPDATE
    assert update.business.document_info is not None
    assert [r.organ_id for r in update.business.document_info.receivers] == [
        "000.00.00.H41",
        "000.00.00.H14",
    ]
    assert update.business.staff_info is not None
    assert update.business.staff_info.staff == "Nguyễn Thị Ngọc Trâm"
    replacement = edxml.parse(
        (samples_dir / "vxp-sdk" / "edoc_replacement.edxml").read_bytes(),
        mode=edxml.Mode.TOLERANT,
    ).package
    assert isinstance(replacement, edxml.DocumentPackage)
    assert replacement.business.doc_type is edxml.BusinessDocType.REPLACEMENT
    assert len(replacement.business.replacements) == 2
    assert replacement.business.replacements[0].organ_ids == ("000.00.00.H41", "000.00.00.H14")


def test_signature_facts_of_samples(samples_dir: Path) -> None:
    namespaced = edxml.parse(
        (samples_dir / "vxp-sdk" / "edoc.edxml").read_bytes(), mode=edxml.Mode.TOLERANT
    )
    assert namespaced.signature.present
    assert namespaced.signature.namespaced
    assert namespaced.signature.algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    assert namespaced.signature.c14n == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    assert namespaced.signature.digest == "http://www.w3.org/2000/09/xmldsig#sha1"
    bare = edxml.parse(
        (samples_dir / "vxp-sdk" / "edoc_update.edxml").read_bytes(), mode=edxml.Mode.TOLERANT
    )
    assert bare.signature.present
    assert not bare.signature.namespaced
    assert bare.signature.algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    unsigned = edxml.parse(
        (samples_dir / "gateway" / "unsigned-three-attachments.edxml").read_bytes(),
        mode=edxml.Mode.TOLERANT,
    )
    assert unsigned.signature == edxml.SignatureInfo()


def test_status_sample_fields(samples_dir: Path) -> None:
    status = edxml.parse(
        (samples_dir / "vxp-sdk" / "status_rejection_02.edxml").read_bytes(),
        mode=edxml.Mode.TOLERANT,
    ).package
    assert isinstance(status, edxml.StatusPackage)
    assert status.status_code is edxml.StatusCode.REFUSED
    assert status.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert status.timestamp is not None
    assert status.timestamp.utcoffset() is not None
    assert status.timestamp.isoformat() == "2015-09-20T11:08:36+07:00"


def test_custom_agency_pattern_accepts_test_systems(samples_dir: Path) -> None:
    data = (samples_dir / "gateway" / "unsigned-three-attachments.edxml").read_bytes()
    result = edxml.parse(data, mode=edxml.Mode.TOLERANT, agency_pattern=r"^vxp\.saas\.\d{2}$")
    assert "invalid-agency-code" not in result.deviation_codes
