"""Mangled bytes never escape as anything but a named EdxmlError, in either mode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edxml
from tests.edxml.helpers import make_package

SEED = edxml.build(
    make_package(
        attachments=[edxml.Attachment.from_bytes("công văn.pdf", b"%PDF-1.4 " * 40, zip=True)]
    )
)
STATUS_SEED = edxml.build(
    edxml.new_status("000.00.00.H41", make_package(), edxml.StatusCode.REFUSED, "Sai thể thức")
)

_TOKENS = [
    b"<", b">", b"&", b"&amp;", b"&x;", b"<!DOCTYPE a>", b"<!--", b"-->", b"]]>", b"\x00", b"\xff",
    b"edXML:", b"xmlns:x='y'", b"cid:", b"</edXML:To>", b"<edXML:To>", b"null", b"9999/99/99",
    "Đ".encode(), b"\xe1\xbb", b"=", b"PK\x03\x04",
]  # fmt: skip


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([SEED, STATUS_SEED])))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "insert":
            data[position:position] = draw(st.sampled_from(_TOKENS))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 40))]
        elif action == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        else:
            del data[position:]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled(), st.sampled_from(list(edxml.Mode)))
def test_only_named_errors_escape(data: bytes, mode: edxml.Mode) -> None:
    refusal: edxml.EdxmlError | None = None
    try:
        result = edxml.parse(data, mode=mode)
    except edxml.EdxmlError as error:
        refusal = error
    if refusal is not None:
        assert refusal.reason_code
        assert str(refusal)
        return
    assert result.package.kind in ("document", "status")
    if mode is edxml.Mode.STRICT:
        assert result.deviations == ()
