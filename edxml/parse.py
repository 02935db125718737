"""``parse(bytes)``: the hardened read of an EDXML package, strict or tolerant.

Steps, each refusing with a named error: size limit; stray bytes before the XML
(tolerant: skipped and reported); the hardened parse (no DTD, no entities, no
network, depth limit; tolerant: undeclared namespace prefixes recovered and
reported); the root and envelope; the header read into the model; attachments
checked (decoded when first read) and linked to the manifest; the semantic
rules; the shipped XSD.

Strict mode raises the first semantic problem's error, else a
:class:`~edxml.errors.SchemaError` with every XSD problem. Tolerant mode returns
the package with every problem as a :class:`~edxml.result.Deviation`.
"""

from __future__ import annotations

from typing import Literal

from lxml import etree

from edxml._issues import Issues
from edxml._names import DSIG_NS, EDXML_NS, children, q
from edxml._reader import read_document, read_status
from edxml._schema import schema_problems
from edxml._xmlsafe import refuse_wide_encodings, safe_fromstring
from edxml.attachments import read_attachments
from edxml.codes import Mode
from edxml.errors import (
    MalformedXmlError,
    MissingFieldError,
    NotEdxmlError,
    PackageTooLargeError,
    SchemaError,
)
from edxml.limits import Limits
from edxml.model import DocumentPackage, StatusPackage
from edxml.result import ParseResult, SignatureInfo
from edxml.validate import check_package

__all__ = ["detect_kind", "parse", "parse_tree", "sender_code_of", "signature_info"]

_Element = etree._Element
_BOM = b"\xef\xbb\xbf"
_STATUS_CODE = q("StatusCode")
_ROOT = q("edXML")
_ENVELOPE, _HEADER, _BODY, _MESSAGE = (
    q("edXMLEnvelope"),
    q("edXMLHeader"),
    q("edXMLBody"),
    q("MessageHeader"),
)
_TRACE_LIST, _ENCODED = q("TraceHeaderList"), q("AttachmentEncoded")
_SIGNATURE_TAGS = (f"{{{DSIG_NS}}}Signature", q("Signature"), "Signature")
_NO_SIGNATURE = SignatureInfo()
#: Limits are immutable: the defaults are made once.
_DEFAULT_LIMITS = Limits()


def parse(
    data: bytes,
    *,
    mode: Mode = Mode.STRICT,
    limits: Limits | None = None,
    agency_pattern: str | None = None,
) -> ParseResult:
    """Read one package. See the module docstring for what each mode does."""
    limits = limits or _DEFAULT_LIMITS
    mode = Mode(mode)
    if isinstance(data, str):
        raise TypeError("edxml.parse takes the package's bytes, not text")
    if not isinstance(data, bytes):
        data = bytes(data)  # bytearray, memoryview
    if len(data) > limits.max_package_bytes:
        raise PackageTooLargeError(limits.max_package_bytes, len(data))
    issues = Issues()
    refuse_wide_encodings(data)
    body = _skip_stray_bytes(data, mode, issues)
    root = _hardened_parse(body, limits, mode, issues)
    _check_encoding(root, issues)
    return _read_tree(root, mode, limits, agency_pattern, issues)


def parse_tree(
    root: _Element,
    *,
    mode: Mode = Mode.STRICT,
    limits: Limits | None = None,
    agency_pattern: str | None = None,
) -> ParseResult:
    """Read a package tree that already came out of the hardened parse.

    Everything :func:`parse` does after the XML is parsed: the envelope, the model,
    attachments, the semantic rules and the XSD, with the same errors and deviation
    codes. What only bytes can show (size, stray bytes, the declared encoding) is
    the business of whoever parsed them; ``signing.Verifier.read`` hands over the
    tree of what the signature covers, which is canonical UTF-8 by definition.
    """
    return _read_tree(
        root,
        # an enum's call is a few Python frames: skipped when a Mode is given
        mode if mode.__class__ is Mode else Mode(mode),
        limits or _DEFAULT_LIMITS,
        agency_pattern,
        Issues(),
    )


def _read_tree(
    root: _Element, mode: Mode, limits: Limits, agency_pattern: str | None, issues: Issues
) -> ParseResult:
    header, message, trace_list, signature_element, body, encoded = _envelope(root)
    kind: Literal["document", "status"] = (
        # A tag filter set up in C: the MessageHeader of a document has twenty children.
        "status" if next(message.iterchildren(_STATUS_CODE), None) is not None else "document"
    )
    package: DocumentPackage | StatusPackage
    if kind == "status":
        package = read_status(header, message, issues, trace_list=trace_list)
    else:
        package = read_document(
            header,
            message,
            issues,
            # read after the header fields, so problems are met in document order
            lambda: read_attachments(root, body, limits, issues, encoded=encoded),
            trace_list=trace_list,
        )
    signature = _signature_facts(signature_element, root)
    if signature.present and not signature.namespaced:
        issues.add(
            SchemaError(["<Signature> is not in the XML-DSig namespace"]),
            "edXMLHeader/Signature",
            "signature-without-namespace",
        )
    check_package(package, issues, agency_pattern)
    if mode is Mode.STRICT:
        first = issues.first_error()
        if first is not None:
            raise first
        problems = schema_problems(root, kind)
        if problems:
            raise SchemaError(problems)
        return ParseResult(package, (), signature)
    for problem in schema_problems(root, kind):
        line = problem.split(":", 1)[0] if problem.startswith("line ") else ""
        issues.add(SchemaError([problem]), line, _schema_code(problem))
    return ParseResult(package, issues.deviations, signature)


def _check_encoding(root: _Element, issues: Issues) -> None:
    declared = root.getroottree().docinfo.encoding or "UTF-8"
    if declared.replace("_", "-").upper() not in ("UTF-8", "UTF8"):
        issues.add(
            MalformedXmlError(f"the XML declaration names {declared!r}; EDXML is UTF-8"),
            "",
            "non-utf8-encoding",
        )


def _schema_code(problem: str) -> str:
    """A finer deviation code for one XSD problem (the error stays SchemaError)."""
    if "This element is not expected" in problem:
        return "unexpected-element"
    if "Missing child element" in problem:
        return "missing-element"
    if "attribute" in problem and "not allowed" in problem:
        return "unexpected-attribute"
    return "schema-violation"


def _skip_stray_bytes(data: bytes, mode: Mode, issues: Issues) -> bytes:
    start = len(_BOM) if data.startswith(_BOM) else 0
    first = data.find(b"<", start)
    if first == start:
        return data
    if first < 0:
        raise MalformedXmlError("no XML in the package")
    stray = data[start:first]
    error = MalformedXmlError(f"{len(stray)} stray bytes {stray[:16]!r} before the XML")
    if mode is Mode.STRICT:
        raise error
    issues.add(error, "", "stray-bytes-before-xml")
    return data[first:]


def _hardened_parse(data: bytes, limits: Limits, mode: Mode, issues: Issues) -> _Element:
    try:
        return safe_fromstring(data, limits)
    except MalformedXmlError as error:
        if mode is Mode.STRICT or "Namespace prefix" not in str(error):
            raise
        root = safe_fromstring(data, limits, recover_namespaces=True)
        issues.add(error, "", "undeclared-namespace-prefix")
        _adopt_edxml_prefix(root)
        return root


def _adopt_edxml_prefix(root: _Element) -> None:
    """After recovery, ``edXML:Foo`` left without a namespace is read as EDXML's ``Foo``."""
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith("edXML:"):
            try:
                element.tag = q(tag.removeprefix("edXML:"))
            except ValueError:  # not a valid name once the prefix is gone: leave it
                continue


def _envelope(
    root: _Element,
) -> tuple[_Element, _Element, _Element | None, _Element | None, _Element | None, _Element | None]:
    """The header, its MessageHeader, its TraceHeaderList, its first ``<Signature>``,
    the body and the AttachmentEncoded: what ``find_path`` finds for each (the header
    and the body are the first under any edXMLEnvelope), in one pass over the root's,
    the envelopes' and the header's children."""
    if root.tag != _ROOT:
        namespace = etree.QName(root).namespace
        if etree.QName(root).localname == "edXML":
            raise NotEdxmlError(
                f"the root <edXML> is in the namespace {namespace!r}, not {EDXML_NS!r}"
            )
        raise NotEdxmlError(f"the root element is <{etree.QName(root).localname}>, not <edXML>")
    header = body = encoded = None
    for child in children(root):
        tag = child.tag
        if tag == _ENVELOPE:
            if header is None or body is None:
                for part in children(child):
                    part_tag = part.tag
                    if part_tag == _HEADER:
                        if header is None:
                            header = part
                    elif part_tag == _BODY and body is None:
                        body = part
        elif tag == _ENCODED and encoded is None:
            encoded = child
    if header is None:
        raise NotEdxmlError("no edXMLEnvelope/edXMLHeader under the root")
    message = trace_list = signature = None
    for child in children(header):
        tag = child.tag
        if tag == _MESSAGE:
            if message is None:
                message = child
        elif tag == _TRACE_LIST:
            if trace_list is None:
                trace_list = child
        elif signature is None and tag in _SIGNATURE_TAGS:
            signature = child
    if message is None:
        raise MissingFieldError("edXMLHeader/MessageHeader")
    return header, message, trace_list, signature, body, encoded


def detect_kind(root: _Element) -> Literal["document", "status"]:
    """``status`` when the MessageHeader carries a StatusCode, else ``document``."""
    message = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('MessageHeader')}")
    if message is not None and message.find(q("StatusCode")) is not None:
        return "status"
    return "document"


def _local(element: _Element) -> str:
    return etree.QName(element).localname


def _find_local(parent: _Element | None, *path: str) -> _Element | None:
    node = parent
    for local in path:
        if node is None:
            return None
        node = next((c for c in node if isinstance(c.tag, str) and _local(c) == local), None)
    return node


def signature_info(root: _Element) -> SignatureInfo:
    """What the package's ``<Signature>`` declares: presence, namespace, algorithms."""
    return _signature_info(root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}"), root)


def _signature_info(header: _Element | None, root: _Element) -> SignatureInfo:
    signature = (
        None
        if header is None
        else next((c for c in children(header) if c.tag in _SIGNATURE_TAGS), None)
    )
    return _signature_facts(signature, root)


def _signature_facts(signature: _Element | None, root: _Element) -> SignatureInfo:
    """The facts of ``signature`` (the header's first), else of the first anywhere."""
    if signature is None:
        signature = next(root.iter(*_SIGNATURE_TAGS), None)
    if signature is None:
        return _NO_SIGNATURE
    signed_info = _find_local(signature, "SignedInfo")

    def algorithm(*path: str) -> str | None:
        node = _find_local(signed_info, *path)
        return None if node is None else node.get("Algorithm")

    return SignatureInfo(
        present=True,
        namespaced=signature.tag == f"{{{DSIG_NS}}}Signature",
        algorithm=algorithm("SignatureMethod"),
        c14n=algorithm("CanonicalizationMethod"),
        digest=algorithm("Reference", "DigestMethod"),
    )


def sender_code_of(root: _Element) -> str:
    """``From/OrganId`` of a package tree, given its ``<edXML>`` root or any node in it.

    Used by ``signing`` to bind the sender to the *signed* element. Raises
    :class:`MissingFieldError` when there is none, :class:`NotEdxmlError` when
    the tree is not an EDXML package.
    """
    if isinstance(root, etree._ElementTree):
        root = root.getroot()
    top = root
    while top.getparent() is not None:
        top = top.getparent()  # type: ignore[assignment]
    if top.tag != q("edXML"):
        raise NotEdxmlError(f"the root element is <{etree.QName(top).localname}>, not <edXML>")
    organ = top.find(
        f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('MessageHeader')}/{q('From')}/{q('OrganId')}"
    )
    code = "" if organ is None else (organ.text or "").strip()
    if not code:
        raise MissingFieldError("MessageHeader/From/OrganId")
    return code
