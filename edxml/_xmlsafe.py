"""The one hardened XML parser of edxbus.

Every layer that reads XML (``edxml`` itself, ``signing``) goes through
:func:`safe_fromstring`, so the refusals below hold everywhere:

- no network access and no external resources (``no_network``, no DTD loading);
- no DOCTYPE at all, hence no entity declarations: XXE and the billion laughs
  need one, and EDXML never does (checked on the raw bytes before libxml2 sees
  them, then again on the parsed tree);
- no entity expansion (``resolve_entities=False``), no ``huge_tree`` unless
  ``Limits.large_text`` asks for attachments over 7.5 MB;
- a maximum size, checked before parsing, and a maximum nesting depth.

Each refusal is a named :class:`~edxml.errors.EdxmlError`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, cast

from lxml import etree

from edxml.errors import (
    ForbiddenDtdError,
    ForbiddenEntityError,
    MalformedXmlError,
    PackageTooLargeError,
    TextTooLongError,
    TooDeepError,
)
from edxml.limits import Limits

__all__ = [
    "LIBXML_TEXT_LIMIT",
    "element_depth",
    "make_parser",
    "refuse_wide_encodings",
    "safe_fromstring",
]

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
#: libxml2's longest text node without XML_PARSE_HUGE (XML_MAX_TEXT_LENGTH).
LIBXML_TEXT_LIMIT = 10_000_000
_POSITION = re.compile(r", line \d+, column \d+$")
_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


def make_parser(*, recover: bool = False, large_text: bool = False) -> etree.XMLParser:
    """A fresh lxml parser with every dangerous feature off (parsers are not thread-safe)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=large_text,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
        recover=recover,
    )


_DEFAULT_LIMITS = Limits()
_PARSERS = threading.local()


def _thread_parser(large_text: bool) -> etree.XMLParser:
    """This thread's hardened parser: an lxml parser may be reused, one parse at a time,
    by the thread that made it (its error log is reset by each parse)."""
    parsers: dict[bool, etree.XMLParser] = _PARSERS.__dict__.setdefault("by_mode", {})
    parser = parsers.get(large_text)
    if parser is None:
        parser = parsers[large_text] = make_parser(large_text=large_text)
    return parser


def refuse_wide_encodings(data: bytes) -> None:
    # EDXML is UTF-8. UTF-16/32 would also hide a DOCTYPE from the byte checks below.
    if data[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\x00" in data[:64]:
        raise MalformedXmlError("not UTF-8: the package is in a UTF-16 or UTF-32 encoding")


def _refuse_dtd(data: bytes) -> None:
    """Refuse a DOCTYPE or an entity declaration in the prolog, before libxml2 runs.

    Both can only stand before the root element (anywhere else the XML is not
    well-formed and libxml2 refuses it), so only the prolog is scanned: the cost
    does not grow with a megabyte of base64 in the body.
    """
    position = 0
    while True:
        start = data.find(b"<", position)
        if start < 0:
            return
        following = data[start + 1 : start + 2]
        if following == b"?":
            end = data.find(b"?>", start + 2)
            position = end + 2 if end >= 0 else len(data)
        elif data.startswith(b"<!--", start):
            end = data.find(b"-->", start + 4)
            position = end + 3 if end >= 0 else len(data)
        elif following == b"!":
            head = data[start : start + 64]
            if _ENTITY_DECL.match(head):
                raise ForbiddenEntityError("entity declarations are not allowed in EDXML")
            if _DOCTYPE.match(head):
                raise ForbiddenDtdError("a DOCTYPE (DTD) is not allowed in EDXML")
            return
        else:
            return  # the root element starts: the prolog is over
        if position >= len(data):
            return


_XPATHS = threading.local()


def _deeper_than(root: etree._Element, limit: int) -> bool:
    """True when an element sits below ``limit`` levels: one XPath walk, in C,
    compiled once per thread and limit (a compiled XPath is not shared across threads)."""
    compiled: dict[int, etree.XPath] = _XPATHS.__dict__.setdefault("by_limit", {})
    xpath = compiled.get(limit)
    if xpath is None:
        # No EXSLT regular expressions: the walk uses none, and each call registers less.
        xpath = compiled[limit] = etree.XPath(
            "boolean(/" + "/".join(["*"] * (limit + 1)) + ")", regexp=False
        )
    return bool(xpath(root))


def element_depth(root: etree._Element) -> int:
    """The deepest nesting of elements under ``root`` (root alone is depth 1)."""
    deepest = 0
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def _translate(error: etree.XMLSyntaxError, limits: Limits) -> Exception:
    message = _POSITION.sub("", str(error.msg or error))
    lowered = message.lower()
    if "text node too long" in lowered or "huge text node" in lowered:
        return TextTooLongError(LIBXML_TEXT_LIMIT)
    if "excessive depth" in lowered or "maximum depth" in lowered:
        reported = re.search(r"depth[^0-9]*(\d+)", message)
        return TooDeepError(limits.max_depth, int(reported.group(1)) if reported else 257)
    if "entity" in lowered and ("not defined" in lowered or "undeclared" in lowered):
        return ForbiddenEntityError(f"undeclared entity reference: {message}")
    if "encoding" in lowered or "utf-8" in lowered or "char 0x" in lowered:
        return MalformedXmlError(f"not valid UTF-8 text: {message}", error.lineno)
    return MalformedXmlError(f"not well-formed XML: {message}", error.lineno)


def safe_fromstring(
    data: bytes, limits: Limits | None = None, *, recover_namespaces: bool = False
) -> etree._Element:
    """Parse ``data`` into an element tree, or raise the named refusal.

    ``recover_namespaces`` lets a tolerant reader accept undeclared namespace
    prefixes (``xlink:href`` in a field sample); every other check still holds.
    """
    limits = limits or _DEFAULT_LIMITS
    if data.__class__ is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("safe_fromstring takes bytes")
        data = bytes(data)
    if len(data) > limits.max_package_bytes:
        raise PackageTooLargeError(limits.max_package_bytes, len(data))
    refuse_wide_encodings(data)
    _refuse_dtd(data)
    parser = _thread_parser(limits.large_text)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        if not (recover_namespaces and _only_namespace_errors(parser)):
            raise _translate(error, limits) from None
        root = etree.fromstring(data, make_parser(recover=True, large_text=limits.large_text))
        if root is None:
            raise _translate(error, limits) from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise ForbiddenDtdError("a DOCTYPE (DTD) is not allowed in EDXML")
    if _deeper_than(root, limits.max_depth):
        raise TooDeepError(limits.max_depth, element_depth(root))
    return root


def _only_namespace_errors(parser: etree.XMLParser) -> bool:
    """True when every error the parser met is an undeclared namespace prefix."""
    entries: list[Any] = list(cast(Iterable[Any], parser.error_log))
    return bool(entries) and all(entry.domain_name == "NAMESPACE" for entry in entries)
