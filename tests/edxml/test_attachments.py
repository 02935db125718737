"""Attachments: base64, zip wrapping as the SDK does it, limits, digests, manifest links."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile

import pytest

import edxml
from tests.edxml.helpers import make_package


def test_from_bytes_plain_and_zipped() -> None:
    plain = edxml.Attachment.from_bytes("công văn.pdf", b"%PDF-1.4 data")
    assert plain.content_type == "application/pdf"
    assert plain.content_id.startswith("cid:")
    assert plain.data == b"%PDF-1.4 data"
    assert not plain.is_zipped
    assert plain.content() == b"%PDF-1.4 data"
    zipped = edxml.Attachment.from_bytes("công văn.pdf", b"%PDF-1.4 data", zip=True)
    assert zipped.is_zipped
    assert zipped.content_type == "application/pdf"
    assert zipped.files() == [("công văn.pdf", b"%PDF-1.4 data")]
    assert zipped.content() == b"%PDF-1.4 data"
    assert zipped.bare_content_id == zipped.content_id.removeprefix("cid:")


def test_size_and_digest() -> None:
    data = os.urandom(4096)
    attachment = edxml.make_attachment("a.bin", data)
    assert attachment.size == 4096
    assert attachment.digest == hashlib.sha256(data).hexdigest()
    assert edxml.package_digest(data) == hashlib.sha256(data).hexdigest()


def test_zip_bomb_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"\0" * (5 * 1024 * 1024))
    attachment = edxml.Attachment("cid:x", "bomb.zip", data=buffer.getvalue())
    assert attachment.size < 100_000
    with pytest.raises(edxml.AttachmentTooLargeError) as caught:
        attachment.content(edxml.Limits(max_unzipped_bytes=1024 * 1024))
    assert caught.value.limit == 1024 * 1024


def test_broken_zip_is_an_encoding_error() -> None:
    attachment = edxml.Attachment("cid:x", "broken.zip", data=b"PK\x03\x04garbage")
    with pytest.raises(edxml.AttachmentEncodingError):
        attachment.files()


def test_base64_with_line_breaks_is_read() -> None:
    data = os.urandom(3000)
    wrapped = base64.encodebytes(data).decode()  # 76-column lines, as MIME writes them
    assert "\n" in wrapped
    assert edxml.decode_base64(wrapped, 10_000) == data
    assert edxml.encode_base64(data) == base64.b64encode(data).decode()


def test_base64_limit_is_checked_before_decoding() -> None:
    with pytest.raises(edxml.AttachmentTooLargeError):
        edxml.decode_base64("QUFB" * 1000, 100)


def test_not_base64() -> None:
    with pytest.raises(edxml.AttachmentEncodingError):
        edxml.decode_base64("not*base64!", 100)


def test_one_megabyte_attachment_round_trip() -> None:
    data = os.urandom(1024 * 1024)
    package = make_package(attachments=[edxml.Attachment.from_bytes("scan.pdf", data)])
    built = edxml.build(package)
    result = edxml.parse(built)
    (attachment,) = result.package.attachments  # type: ignore[union-attr]
    assert attachment.data == data
    assert attachment.digest == hashlib.sha256(data).hexdigest()


def test_base64_over_the_parser_text_limit_is_named() -> None:
    package = make_package(
        attachments=[edxml.Attachment("cid:big", "scan.pdf", data=bytes(7_600_000))]
    )
    with pytest.raises(edxml.TextTooLongError) as caught:
        edxml.parse(edxml.build(package), mode=edxml.Mode.TOLERANT)
    assert isinstance(caught.value, edxml.AttachmentTooLargeError)
    assert caught.value.reason_code == "attachment-too-large"
    assert caught.value.limit == 10_000_000


def test_large_text_reads_attachments_over_the_cap() -> None:
    data = os.urandom(8_000_000)
    package = make_package(attachments=[edxml.Attachment("cid:big", "scan.pdf", data=data)])
    built = edxml.build(package)
    limits = edxml.Limits(large_text=True, max_attachment_bytes=10_000_000)
    (attachment,) = edxml.parse(built, limits=limits).package.attachments  # type: ignore[union-attr]
    assert attachment.digest == hashlib.sha256(data).hexdigest()
    with pytest.raises(edxml.AttachmentTooLargeError):
        edxml.parse(built, limits=edxml.Limits(large_text=True))  # the decoded limit holds


def test_cid_prefix_mismatch_is_named() -> None:
    package = make_package(attachments=[edxml.Attachment("cid:abc", "a.txt", data=b"x")])
    data = edxml.build(package).replace(
        b"<ContentId>cid:abc</ContentId>", b"<ContentId>abc</ContentId>"
    )
    with pytest.raises(edxml.DanglingReferenceError):
        edxml.parse(data)
    result = edxml.parse(data, mode=edxml.Mode.TOLERANT)
    assert "cid-prefix" in result.deviation_codes
    assert result.package.attachments[0].data == b"x"  # type: ignore[union-attr]


def test_attachment_without_manifest_entry() -> None:
    package = make_package(attachments=[edxml.Attachment("cid:abc", "a.txt", data=b"x")])
    data = edxml.build(package)
    start = data.index(b"<edXML:Reference>")
    end = data.index(b"</edXML:Reference>") + len(b"</edXML:Reference>")
    with pytest.raises(edxml.DanglingReferenceError) as caught:
        edxml.parse(data[:start] + data[end:])
    assert caught.value.content_id == "cid:abc"


def test_manifest_is_derived_from_attachments() -> None:
    attachment = edxml.Attachment("cid:1", "a.pdf", "Bản chính", "application/pdf", b"x")
    package = make_package(attachments=[attachment])
    assert package.manifest == (
        edxml.ManifestReference("cid:1", "a.pdf", "application/pdf", "Bản chính"),
    )


@pytest.mark.parametrize(
    "text",
    ["QUJD=REVG", "QUJDRA", "QUJ*", "QUJDRA==\u00e9", "QU JD\u00a0RA=="],
)
def test_malformed_base64_forms(text: str) -> None:
    with pytest.raises(edxml.AttachmentEncodingError):
        edxml.decode_base64(text, 100)


def test_base64_forms_that_decode() -> None:
    assert edxml.decode_base64("", 10) == b""
    assert edxml.decode_base64("QUJDRA==", 10) == b"ABCD"
    assert edxml.decode_base64(" QUJD\r\n RA== \n", 10) == b"ABCD"
