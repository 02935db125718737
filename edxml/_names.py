"""Namespaces and qualified names of EDXML, in one place."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import cast

from lxml import etree

__all__ = ["DSIG_NS", "EDXML_NS", "children", "find_path", "q"]

#: The QCVN 102:2016 namespace (conventional prefix ``edXML``).
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: XML-DSig: where a proper ``<Signature>`` lives.
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


#: Up to this many children, a loop over an element's children takes them as one list
#: (``element[:]``: one C call, a third cheaper than lxml's child iterator); beyond
#: it, one at a time, so that a hostile fan-out never holds a proxy per child at once.
FEW_CHILDREN = 64
#: ``element[:]``, every child (comments and processing instructions too) in one list:
#: a C call with no Python frame (typed here: the stubs know no slice of an element).
_all_children = cast(
    "Callable[[etree._Element], list[etree._Element]]", operator.itemgetter(slice(None))
)


def children(element: etree._Element) -> list[etree._Element] | etree._Element:
    """What to loop over for ``element``'s children (comments and processing
    instructions too, in document order; ``reversed`` works on either): one list
    for up to :data:`FEW_CHILDREN` of them, the element itself beyond."""
    return _all_children(element) if len(element) <= FEW_CHILDREN else element


def q(local: str) -> str:
    """``{EDXML_NS}local``: the Clark name lxml uses."""
    return f"{{{EDXML_NS}}}{local}"


def find_path(parent: etree._Element, *tags: str) -> etree._Element | None:
    """What ``parent.find("a/b/c")`` finds for the tags ``a, b, c`` (the first ``c``
    under any ``b`` under any ``a``, in document order), without ElementPath's
    generators: the path is a few steps through a few children each."""
    first, rest = tags[0], tags[1:]
    # cheaper than setting up a tag filter for a few children
    for child in children(parent):
        if child.tag == first:
            if not rest:
                return child
            found = find_path(child, *rest)
            if found is not None:
                return found
    return None
