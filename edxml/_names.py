"""Namespaces and qualified names of EDXML, in one place."""

from __future__ import annotations

from lxml import etree

__all__ = ["DSIG_NS", "EDXML_NS", "find_path", "q"]

#: The QCVN 102:2016 namespace (conventional prefix ``edXML``).
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: XML-DSig: where a proper ``<Signature>`` lives.
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def q(local: str) -> str:
    """``{EDXML_NS}local``: the Clark name lxml uses."""
    return f"{{{EDXML_NS}}}{local}"


def find_path(parent: etree._Element, *tags: str) -> etree._Element | None:
    """What ``parent.find("a/b/c")`` finds for the tags ``a, b, c`` (the first ``c``
    under any ``b`` under any ``a``, in document order), with the children filtered
    in C instead of by ElementPath's Python generators."""
    first, rest = tags[0], tags[1:]
    if not rest:
        return next(parent.iterchildren(first), None)
    for child in parent.iterchildren(first):
        found = find_path(child, *rest)
        if found is not None:
            return found
    return None
