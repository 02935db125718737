"""``parse_tree`` on a tree from ``safe_fromstring`` reads what ``parse`` reads from the
bytes: the same package, the same deviations, the same named refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edxml
from edxml import EdxmlError, Limits, Mode
from tests.fixtures.samples import sample_files

HOSTILE = sorted((Path(__file__).resolve().parents[1] / "data" / "hostile").glob("*.edxml"))
#: What only the bytes can show: parse_tree leaves these to whoever parsed them.
BYTE_LEVEL = {"stray-bytes-before-xml", "non-utf8-encoding", "undeclared-namespace-prefix"}


def _both(data: bytes, mode: Mode, limits: Limits) -> tuple[object, object] | None:
    """(parse's outcome, parse_tree's outcome); None when the bytes do not parse alone."""
    try:
        root = edxml.safe_fromstring(data, limits)
    except EdxmlError:
        return None
    try:
        from_bytes: object = edxml.parse(data, mode=mode, limits=limits)
    except EdxmlError as error:
        from_bytes = (type(error), str(error))
    try:
        from_tree: object = edxml.parse_tree(root, mode=mode, limits=limits)
    except EdxmlError as error:
        from_tree = (type(error), str(error))
    return from_bytes, from_tree


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.TOLERANT])
@pytest.mark.parametrize("path", [*sample_files(), *HOSTILE], ids=lambda p: p.name)
def test_the_tree_reads_like_the_bytes(path: Path, mode: Mode) -> None:
    limits = Limits(max_attachments=1) if "too-many" in path.name else Limits()
    pair = _both(path.read_bytes(), mode, limits)
    if pair is None:
        return
    from_bytes, from_tree = pair
    if isinstance(from_bytes, edxml.ParseResult) and isinstance(from_tree, edxml.ParseResult):
        assert from_tree.package == from_bytes.package
        assert from_tree.signature == from_bytes.signature
        expected = [d for d in from_bytes.deviations if d.code not in BYTE_LEVEL]
        assert list(from_tree.deviations) == expected
        return
    if path.read_bytes().lstrip(b"\xef\xbb\xbf").startswith(b"<") and not (
        isinstance(from_bytes, tuple) and "declaration names" in str(from_bytes[1])
    ):
        assert from_tree == from_bytes


@settings(max_examples=40, deadline=None)
@given(
    subject=st.text(min_size=1, max_size=60).filter(lambda t: t.strip() == t),
    recipients=st.integers(min_value=1, max_value=6),
    attachment=st.binary(max_size=600),
)
def test_generated_packages_read_alike(subject: str, recipients: int, attachment: bytes) -> None:
    package = edxml.new_document(
        "000.00.00.H41",
        [f"000.00.{i + 1:02d}.H44" for i in range(recipients)],
        number="12",
        notation="UBND-VP",
        subject=subject,
        signer_name="Nguyễn Văn A",
        attachments=[edxml.Attachment.from_bytes("a.pdf", attachment)] if attachment else [],
    )
    try:
        data = edxml.build(package)
    except EdxmlError:
        return  # text XML cannot carry (control characters): build refuses it
    pair = _both(data, Mode.STRICT, Limits())
    assert pair is not None
    assert pair[0] == pair[1]
