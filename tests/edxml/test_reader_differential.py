"""The reader against its reference (the field-by-field reader it replaced), and the
one-pass base64 decoding against ``b64decode(validate=True)``: the same package, the
same deviations, the same named refusal, on the field samples, the hostile files,
generated packages and generated damage to them."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import edxml
from edxml import EdxmlError, Limits, Mode
from edxml.attachments import _strict_base64
from tests.edxml import reference_attachments, reference_reader
from tests.fixtures.samples import sample_files
from tests.strategies import packages

HOSTILE = sorted((Path(__file__).resolve().parents[1] / "data" / "hostile").glob("*.edxml"))
_PARSE = __import__("edxml.parse", fromlist=["parse"])
_NS = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"


def _outcome(data: bytes, mode: Mode, limits: Limits) -> object:
    try:
        return edxml.parse(data, mode=mode, limits=limits)
    except EdxmlError as error:
        return (type(error), str(error))


def _both(data: bytes, mode: Mode, limits: Limits | None = None) -> tuple[object, object]:
    limits = limits or Limits()
    reader = _outcome(data, mode, limits)
    patch = pytest.MonkeyPatch()
    # The references look up what the reader is handed (TraceHeaderList, AttachmentEncoded).
    patch.setattr(
        _PARSE,
        "read_document",
        lambda header, message, issues, attachments, trace_list: reference_reader.read_document(
            header, message, issues, attachments
        ),
    )
    patch.setattr(
        _PARSE,
        "read_status",
        lambda header, message, issues, trace_list: reference_reader.read_status(
            header, message, issues
        ),
    )
    patch.setattr(
        _PARSE,
        "read_attachments",
        lambda root, body, limits, issues, encoded: reference_attachments.read_attachments(
            root, body, limits, issues
        ),
    )
    try:
        reference = _outcome(data, mode, limits)
    finally:
        patch.undo()
    return reader, reference


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.TOLERANT])
@pytest.mark.parametrize("path", [*sample_files(), *HOSTILE], ids=lambda p: p.name)
def test_files_read_as_the_reference_reads_them(path: Path, mode: Mode) -> None:
    limits = Limits(max_attachments=1) if "too-many" in path.name else Limits()
    reader, reference = _both(path.read_bytes(), mode, limits)
    assert reader == reference


@settings(max_examples=60, deadline=None)
@given(package=packages)
def test_generated_packages_read_as_the_reference_reads_them(package: edxml.Package) -> None:
    data = edxml.build(package)
    for mode in (Mode.STRICT, Mode.TOLERANT):
        reader, reference = _both(data, mode)
        assert reader == reference


def _read_elements(root: etree._Element, *, header: bool = True) -> list[etree._Element]:
    """Every element under the header (unless ``header`` is false), the body and the
    attachments (those three stay)."""
    tops = [
        root.find(f"{_NS}edXMLEnvelope/{_NS}edXMLHeader") if header else None,
        root.find(f"{_NS}edXMLEnvelope/{_NS}edXMLBody"),
        root.find(f"{_NS}AttachmentEncoded"),
    ]
    return [
        e
        for top in tops
        if top is not None
        for e in top.iter()
        if isinstance(e.tag, str) and e is not top
    ]


_DAMAGES = [
    "comment",
    "duplicate",
    "duplicate-changed",
    "remove",
    "empty",
    "foreign-child",
    "edxml-child",
    "spaces",
]
_DAMAGE = st.sampled_from(_DAMAGES)


def _damage(element: etree._Element, how: str) -> None:
    parent = element.getparent()
    if how == "comment":
        element.insert(0, etree.Comment(" note "))
        element.text = (element.text or "") + " "
    elif how == "duplicate" and parent is not None:
        parent.insert(parent.index(element), etree.fromstring(etree.tostring(element)))
    elif how == "duplicate-changed" and parent is not None:
        # a second element of the same tag, after the first and with other texts
        copy = etree.fromstring(etree.tostring(element, with_tail=False))
        for node in copy.iter():
            if isinstance(node.tag, str):
                node.text = f"{node.text or ''}0"
        parent.insert(parent.index(element) + 1, copy)
    elif how == "remove" and parent is not None:
        parent.remove(element)
    elif how == "empty":
        for child in list(element):
            element.remove(child)
        element.text = None
    elif how == "foreign-child":
        etree.SubElement(element, "{urn:other}Extra").text = "x"
    elif how == "edxml-child":
        etree.SubElement(element, f"{_NS}OrganId").text = "000.00.00.H41"
    elif how == "spaces":
        element.text = f"  {element.text or ''}\n "


@settings(max_examples=120, deadline=None)
@given(
    package=packages,
    damage=st.lists(st.tuples(st.integers(min_value=0), _DAMAGE), min_size=1, max_size=4),
)
def test_damaged_packages_read_as_the_reference_reads_them(
    package: edxml.Package, damage: list[tuple[int, str]]
) -> None:
    root = etree.fromstring(edxml.build(package))
    for index, how in damage:
        elements = _read_elements(root)
        if not elements:
            break
        _damage(elements[index % len(elements)], how)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for mode in (Mode.STRICT, Mode.TOLERANT):
        reader, reference = _both(data, mode)
        assert reader == reference


@settings(max_examples=120, deadline=None)
@given(
    package=packages,
    damage=st.lists(st.tuples(st.integers(min_value=0), _DAMAGE), min_size=1, max_size=4),
)
def test_damaged_attachments_read_as_the_reference_reads_them(
    package: edxml.Package, damage: list[tuple[int, str]]
) -> None:
    root = etree.fromstring(edxml.build(package))
    for index, how in damage:
        elements = _read_elements(root, header=False)
        if not elements:
            break
        _damage(elements[index % len(elements)], how)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for mode in (Mode.STRICT, Mode.TOLERANT):
        reader, reference = _both(data, mode)
        assert reader == reference


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_every_damage_to_every_element_of_a_sample_reads_as_the_reference(path: Path) -> None:
    """Each damage, alone, to each element the reader reads (header, body, attachments)."""
    original = path.read_bytes()
    try:
        count = len(_read_elements(etree.fromstring(original)))
    except etree.XMLSyntaxError:
        pytest.skip("not well-formed as it stands (read whole by the test above)")
    for index in range(count):
        for how in _DAMAGES:
            root = etree.fromstring(original)
            _damage(_read_elements(root)[index], how)
            data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
            for mode in (Mode.STRICT, Mode.TOLERANT):
                reader, reference = _both(data, mode)
                assert reader == reference, (index, how, mode)


def _reference_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(re.sub(r"[ \t\r\n]+", "", text), validate=True)
    except (binascii.Error, ValueError):
        return None


_BASE64_TEXT = st.one_of(
    st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    st.text(alphabet="ABCQab09+/=\n\r \t\x0b-_*é", max_size=24),
    st.binary(max_size=48).map(lambda b: base64.encodebytes(b).decode()),
)


@settings(max_examples=400, deadline=None)
@given(text=_BASE64_TEXT)
def test_one_pass_base64_decodes_what_b64decode_validates(text: str) -> None:
    expected = _reference_base64(text)
    if expected is None:
        with pytest.raises(edxml.AttachmentEncodingError):
            _strict_base64(text, "a.pdf")
    else:
        assert _strict_base64(text, "a.pdf") == expected


_TAGS = ["{urn:a}x", "{urn:a}y", "{urn:b}x", "z"]


@st.composite
def _trees(draw: st.DrawFn, depth: int = 3) -> etree._Element:
    root = etree.Element("root")
    frontier = [root]
    for _ in range(depth):
        following = []
        for parent in frontier:
            for _ in range(draw(st.integers(0, 3))):
                kind = draw(st.sampled_from([*_TAGS, "comment", "pi"]))
                if kind == "comment":
                    parent.append(etree.Comment("c"))
                elif kind == "pi":
                    parent.append(etree.ProcessingInstruction("p"))
                else:
                    following.append(etree.SubElement(parent, kind))
        frontier = following
    return root


@settings(max_examples=200, deadline=None)
@given(root=_trees(), path=st.lists(st.sampled_from(_TAGS), min_size=1, max_size=3))
def test_find_path_finds_what_elementpath_finds(root: etree._Element, path: list[str]) -> None:
    from edxml._names import find_path
    from signing._xml import find_path as signing_find_path

    expected = root.find("/".join(path))
    assert find_path(root, *path) is expected
    assert signing_find_path(root, *path) is expected


@settings(max_examples=400, deadline=None)
@given(text=_BASE64_TEXT, limit=st.integers(min_value=0, max_value=80))
def test_the_check_without_decoding_accepts_only_what_decoding_accepts(
    text: str, limit: int
) -> None:
    from edxml.attachments import _checked_plain

    if _checked_plain(text, limit):
        decoded = edxml.decode_base64(text, limit)
        assert decoded == binascii.a2b_base64(text)
        assert len(decoded) <= limit


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_attachments_read_lazily_equal_those_decoded(data: bytes) -> None:
    from edxml.model import encoded_attachment

    attachment = edxml.Attachment("cid:1", "a.pdf", "", "application/pdf", data)
    lazy = encoded_attachment("cid:1", "a.pdf", "", "application/pdf", edxml.encode_base64(data))
    assert lazy == attachment
    assert attachment == lazy
    assert hash(lazy) == hash(attachment)
    assert repr(lazy) == repr(attachment)
    assert lazy.data == data
    assert lazy.digest == attachment.digest
    assert dataclasses.replace(lazy, name="b.pdf") == dataclasses.replace(attachment, name="b.pdf")
    # Worker processes receive packages pickled (our own bytes, never a peer's).
    assert pickle.loads(pickle.dumps(lazy)) == attachment  # noqa: S301


def test_a_strict_read_refuses_bad_base64_it_does_not_decode() -> None:
    package = edxml.new_document(
        "000.00.00.H41",
        ["000.00.01.H44"],
        number="12",
        notation="UBND-VP",
        subject="s",
        signer_name="A",
        attachments=[edxml.Attachment.from_bytes("a.pdf", b"0123456789")],
    )
    good = edxml.build(package)
    encoded = edxml.encode_base64(package.attachments[0].data).encode()
    for bad in (encoded[:-1] + b"*", encoded[:-2], b"=" + encoded[1:], encoded + b"===="):
        with pytest.raises(edxml.AttachmentEncodingError):
            edxml.parse(good.replace(encoded, bad))


_ROOT_CHILDREN = ["edXMLEnvelope", "AttachmentEncoded", "edXMLBody", "{urn:a}edXMLEnvelope"]
_ENVELOPE_CHILDREN = ["edXMLHeader", "edXMLBody", "AttachmentEncoded", "{urn:a}edXMLHeader"]
_HEADER_CHILDREN = [
    "MessageHeader",
    "TraceHeaderList",
    "Signature",
    "{http://www.w3.org/2000/09/xmldsig#}Signature",
    "{}Signature",
    "{urn:a}MessageHeader",
]


def _tag(name: str) -> str:
    if name.startswith("{}"):
        return name[2:]
    return name if name.startswith("{") else f"{_NS}{name}"


@st.composite
def _skeletons(draw: st.DrawFn) -> etree._Element:
    """An edXML root whose envelopes, headers and their children come in any number
    and order, with comments among them."""
    root = etree.Element(f"{_NS}edXML")
    levels = [_ROOT_CHILDREN, _ENVELOPE_CHILDREN, _HEADER_CHILDREN]
    frontier = [root]
    for names in levels:
        following = []
        for parent in frontier:
            for _ in range(draw(st.integers(0, 4))):
                name = draw(st.sampled_from([*names, "comment"]))
                if name == "comment":
                    parent.append(etree.Comment("c"))
                else:
                    following.append(etree.SubElement(parent, _tag(name)))
        frontier = following
    return root


@settings(max_examples=300, deadline=None)
@given(root=_skeletons())
def test_the_envelope_pass_finds_what_find_path_finds(root: etree._Element) -> None:
    from edxml._names import find_path

    header = find_path(root, f"{_NS}edXMLEnvelope", f"{_NS}edXMLHeader")
    message = None if header is None else find_path(header, f"{_NS}MessageHeader")
    if header is None or message is None:
        with pytest.raises(EdxmlError):
            _PARSE._envelope(root)
        return
    found = _PARSE._envelope(root)
    signatures = [c for c in header if c.tag in _PARSE._SIGNATURE_TAGS]
    assert found == (
        header,
        message,
        find_path(header, f"{_NS}TraceHeaderList"),
        signatures[0] if signatures else None,
        find_path(root, f"{_NS}edXMLEnvelope", f"{_NS}edXMLBody"),
        find_path(root, f"{_NS}AttachmentEncoded"),
    )
    assert _PARSE._signature_facts(found[3], root) == _PARSE.signature_info(root)


@pytest.mark.parametrize(
    "text", ["TODO", "PLACEHOLDER", "", "${file}", " TODO ", "QUJD", "QUJD\n", "QUJ", "QU=D"]
)
@pytest.mark.parametrize("content_id", ["cid:1", ""])
def test_attachment_texts_read_as_the_reference_reads_them(text: str, content_id: str) -> None:
    package = edxml.new_document(
        "000.00.00.H41",
        ["000.00.01.H44"],
        number="12",
        notation="UBND-VP",
        subject="s",
        signer_name="A",
        attachments=[edxml.Attachment("cid:1", "a.pdf", "", "application/pdf", b"ABC")],
    )
    root = etree.fromstring(edxml.build(package))
    transfer = root.find(f".//{_NS}ContentTransferEncoded")
    identifier = root.find(f"{_NS}AttachmentEncoded/{_NS}Attachment/{_NS}ContentId")
    assert transfer is not None
    assert identifier is not None
    transfer.text = text
    identifier.text = content_id
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for mode in (Mode.STRICT, Mode.TOLERANT):
        reader, reference = _both(data, mode)
        assert reader == reference


@pytest.mark.parametrize(
    "other_info",
    [
        "",
        "<Priority>0</Priority>",
        "<Priority>1</Priority>",
        "<Priority> 0 </Priority>",
        "<Priority>x</Priority>",
        "<Priority>0</Priority><Direction>1</Direction>",
        "<Priority>0</Priority><Appendixes/>",
        "<Priority>0</Priority><Appendixes><Appendix>a</Appendix></Appendixes>",
        "<PageAmount>2</PageAmount>",
        "<Priority>0</Priority><Priority>2</Priority>",
    ],
)
@pytest.mark.parametrize(
    "business",
    [
        "<BussinessDocType>0</BussinessDocType>",
        "<BussinessDocType>0</BussinessDocType><Paper>0</Paper>",
        "<BussinessDocType>0</BussinessDocType><Paper>1</Paper>",
        "<BussinessDocType>1</BussinessDocType><Paper>0</Paper>",
        "<Paper>0</Paper><BussinessDocType>0</BussinessDocType>",
        "<BussinessDocType>0</BussinessDocType><Paper>0</Paper><BussinessDocReason>r</BussinessDocReason>",
        "",
    ],
)
def test_other_info_and_business_read_as_the_reference_reads_them(
    other_info: str, business: str
) -> None:
    package = edxml.new_document(
        "000.00.00.H41",
        ["000.00.01.H44"],
        number="12",
        notation="UBND-VP",
        subject="s",
        signer_name="A",
    )
    root = etree.fromstring(edxml.build(package))
    for tag, children in (("OtherInfo", other_info), ("Bussiness", business)):
        element = root.find(f".//{_NS}{tag}")
        if element is None:  # build leaves out an empty OtherInfo
            message = root.find(f".//{_NS}MessageHeader")
            assert message is not None
            element = etree.SubElement(message, f"{_NS}{tag}")
        for child in list(element):
            element.remove(child)
        wrapper = etree.fromstring(f'<w xmlns="{_NS[1:-1]}">{children}</w>')
        element.extend(list(wrapper))
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for mode in (Mode.STRICT, Mode.TOLERANT):
        reader, reference = _both(data, mode)
        assert reader == reference
