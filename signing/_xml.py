"""Where the signature lives in an EDXML package, and the one hardened parse.

Parsing goes through ``edxml.safe_fromstring``, the project's one hardened parser.
``signxml`` re-parses its own serialisations internally; it is handed
:func:`internal_parser`, which refuses entities and network access like the
hardened one but lifts libxml2's text-node cap, because the bytes it reads came
out of that hardened parse and a 10 MB attachment is one text node.
"""

from __future__ import annotations

from lxml import etree

from edxml import DSIG_NS, EDXML_NS, Limits, find_path, safe_fromstring
from signing.errors import MalformedSignatureError

__all__ = [
    "DSIG_NS",
    "EDXML_NS",
    "find_header",
    "find_path",
    "find_signatures",
    "internal_parser",
    "parse_package",
]


def internal_parser() -> etree.XMLParser:
    """A fresh parser for signxml's own re-parsing (lxml parsers are not thread-safe)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
        remove_blank_text=False,
    )


_DSIG_SIGNATURE = f"{{{DSIG_NS}}}Signature"
_ENVELOPE = f"{{{EDXML_NS}}}edXMLEnvelope"
_HEADER = f"{{{EDXML_NS}}}edXMLHeader"


def parse_package(data: bytes, limits: Limits | None = None) -> etree._Element:
    """The root element of a package, through the hardened parser (raises EdxmlError)."""
    root: etree._Element = safe_fromstring(data, limits)
    return root


def find_header(root: etree._Element) -> etree._Element:
    """``edXML/edXMLEnvelope/edXMLHeader``: the one place a package signature may sit."""
    if root.tag != f"{{{EDXML_NS}}}edXML":
        raise MalformedSignatureError(
            f"the root element is {root.tag!r}, not the EDXML root {{{EDXML_NS}}}edXML"
        )
    header = find_path(root, _ENVELOPE, _HEADER)
    if header is None:
        raise MalformedSignatureError("the package has no edXMLEnvelope/edXMLHeader")
    return header


def find_signatures(root: etree._Element) -> tuple[list[etree._Element], list[etree._Element]]:
    """Every ``Signature`` element: (in the XML-DSig namespace, in any other namespace)."""
    namespaced: list[etree._Element] = []
    other: list[etree._Element] = []
    for element in root.iter("{*}Signature"):  # any namespace or none, matched in C
        (namespaced if element.tag == _DSIG_SIGNATURE else other).append(element)
    return namespaced, other
