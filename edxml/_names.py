"""Namespaces and qualified names of EDXML, in one place."""

from __future__ import annotations

__all__ = ["DSIG_NS", "EDXML_NS", "q"]

#: The QCVN 102:2016 namespace (conventional prefix ``edXML``).
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: XML-DSig: where a proper ``<Signature>`` lives.
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def q(local: str) -> str:
    """``{EDXML_NS}local``: the Clark name lxml uses."""
    return f"{{{EDXML_NS}}}{local}"
