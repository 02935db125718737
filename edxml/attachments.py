"""Attachments: base64 checks and decoding with limits, manifest links, digests.

Decoding is the costly part of reading a package with a large attachment. Base64
on one unbroken line (as the SDK writes it) is checked without decoding when the
package is read (one C pass over the text, the padding and the size limit) and
decoded only when the attachment's ``data`` is first read; any other layout is
decoded at once, the size limit checked on the encoded length before any byte is
decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import string

from lxml import etree

from edxml._issues import Issues
from edxml._names import children, find_path, q
from edxml.errors import (
    AttachmentEncodingError,
    AttachmentError,
    AttachmentTooLargeError,
    DanglingReferenceError,
    DuplicateContentIdError,
    MissingFieldError,
    TooManyAttachmentsError,
)
from edxml.limits import Limits
from edxml.model import Attachment, ManifestReference, encoded_attachment

__all__ = [
    "decode_base64",
    "encode_base64",
    "make_attachment",
    "package_digest",
    "read_attachments",
]

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|^\s*(?:TODO|PLACEHOLDER)\s*$")
_WHITESPACE = re.compile(r"[ \t\r\n]+")


def _looks_like_placeholder(head: str) -> bool:
    """``_PLACEHOLDER`` searched in ``head``, only when one of its literals is there."""
    if "$" not in head and "TODO" not in head and "PLACEHOLDER" not in head:
        return False
    return _PLACEHOLDER.search(head) is not None


_Element = etree._Element


def package_digest(data: bytes) -> str:
    """SHA-256 of a package's exact bytes, lower-case hex (the bus's content digest)."""
    return hashlib.sha256(data).hexdigest()


def encode_base64(data: bytes) -> str:
    """Base64 on one line, as the SDK writes ``ContentTransferEncoded``."""
    return base64.b64encode(data).decode("ascii")


def decode_base64(text: str, limit: int, name: str = "") -> bytes:
    """Decode ``text`` (whitespace allowed), refusing more than ``limit`` decoded bytes."""
    if (len(text) // 4) * 3 > limit:
        estimated = (len(_WHITESPACE.sub("", text)) // 4) * 3 - 2
        if estimated > limit:
            raise AttachmentTooLargeError(limit, estimated, name)
    data = _strict_base64(text, name)
    if len(data) > limit:
        raise AttachmentTooLargeError(limit, len(data), name)
    return data


def _strict_base64(text: str, name: str) -> bytes:
    """Decode standard, padded base64; whitespace between lines is allowed."""
    try:
        # One C pass that checks the alphabet and the padding as it decodes (what
        # ``b64decode(validate=True)`` checks with a regular expression first).
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(_WHITESPACE.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        raise AttachmentEncodingError(
            f"attachment {name!r} is not valid base64" if name else "not valid base64"
        ) from None


_ALPHABET = (string.ascii_letters + string.digits + "+/").encode("ascii")


def _checked_plain(text: str, limit: int) -> bool:
    """True when ``text`` is padded base64 on one line (as the SDK writes it) that
    decodes to at most ``limit`` bytes: what :func:`decode_base64` would accept,
    told without decoding (deleting the alphabet's bytes is one C pass over the
    text, several times cheaper than decoding). False leaves the answer, bytes or
    named refusal, to :func:`decode_base64`."""
    if len(text) % 4 or (len(text) // 4) * 3 > limit or not text.isascii():
        return False
    raw = text.encode("ascii")
    rest = raw.translate(None, _ALPHABET)
    return not rest or (rest in (b"=", b"==") and raw.endswith(rest))


def make_attachment(
    name: str,
    data: bytes,
    content_type: str | None = None,
    *,
    zip: bool = False,
    description: str = "",
) -> Attachment:
    """An attachment for a file, with a fresh ``cid:`` ContentId (see Attachment.from_bytes)."""
    return Attachment.from_bytes(name, data, content_type, zip=zip, description=description)


def _bare(content_id: str) -> str:
    return content_id[4:] if content_id.startswith("cid:") else content_id


_CONTENT_ID = q("ContentId")
_ATTACHMENT_NAME = q("AttachmentName")
_CONTENT_TYPE = q("ContentType")
_DESCRIPTION = q("Description")
_TRANSFER = q("ContentTransferEncoded")
_MANIFEST = q("edXMLManifest")
_REFERENCE = q("Reference")
_ENCODED = q("AttachmentEncoded")
_ATTACHMENT = q("Attachment")
#: Where each field of a manifest entry or an attachment goes in its record.
_SLOTS = {_CONTENT_ID: 0, _ATTACHMENT_NAME: 1, _CONTENT_TYPE: 2, _DESCRIPTION: 3}


def _record(node: _Element) -> tuple[str, str, str, str, str | None]:
    """ContentId, AttachmentName, ContentType, Description (stripped text, ``""`` when
    absent) and ContentTransferEncoded (its text as it stands, None when absent): each
    the first child of its tag, met in one pass over the children read last to first."""
    texts = ["", "", "", ""]
    transfer = None
    get = _SLOTS.get
    for child in reversed(children(node)):
        tag = child.tag
        index = get(tag)
        if index is not None:
            texts[index] = (child.text or "").strip()
        elif tag == _TRANSFER:
            transfer = child.text or ""
    return texts[0], texts[1], texts[2], texts[3], transfer


def _manifest(body: _Element | None, issues: Issues) -> list[ManifestReference]:
    manifest = None if body is None else find_path(body, _MANIFEST)
    references: list[ManifestReference] = []
    if manifest is None:
        return references
    for node in children(manifest):
        if node.tag != _REFERENCE:
            continue
        content_id, name, content_type, description, _ = _record(node)
        references.append(ManifestReference(content_id, name, content_type, description))
        if not content_id:
            path = f"edXMLBody/edXMLManifest/Reference[{len(references)}]/ContentId"
            issues.add(MissingFieldError(path), path)
    return references


def read_attachments(
    root: _Element,
    body: _Element | None,
    limits: Limits,
    issues: Issues,
    *,
    encoded: _Element | None = None,
) -> tuple[Attachment, ...]:
    """Check (and, unless it is on one line, decode) every attachment, and link it to
    the manifest. ``encoded`` is the root's first AttachmentEncoded when the caller met
    it (else it is looked up)."""
    if encoded is None:
        encoded = find_path(root, _ENCODED)
    nodes = (
        [] if encoded is None else [node for node in (children(encoded)) if node.tag == _ATTACHMENT]
    )
    if len(nodes) > limits.max_attachments:
        raise TooManyAttachmentsError(limits.max_attachments, len(nodes))
    references = _manifest(body, issues)
    if len(references) > limits.max_attachments:
        raise TooManyAttachmentsError(limits.max_attachments, len(references))
    attachments: list[Attachment] = []
    for index, node in enumerate(nodes, start=1):
        content_id, name, content_type, description, transfer = _record(node)
        if (
            content_id
            and transfer is not None
            and not _looks_like_placeholder(transfer[:256])
            and _checked_plain(transfer, limits.max_attachment_bytes)
        ):
            # The common case, nothing to say: valid as it stands and within the
            # limit, decoded when first read.
            attachments.append(
                encoded_attachment(content_id, name, description, content_type, transfer)
            )
            continue
        path = f"AttachmentEncoded/Attachment[{index}]"
        if not content_id:
            issues.add(MissingFieldError(f"{path}/ContentId"), f"{path}/ContentId")
        data = b""
        if transfer is None:
            issues.add(MissingFieldError(f"{path}/ContentTransferEncoded"), path)
        elif _looks_like_placeholder(transfer[:256]):
            issues.add(
                AttachmentEncodingError(
                    f"attachment {name or content_id!r} holds a placeholder "
                    f"({transfer.strip()[:40]!r}) instead of base64 content"
                ),
                f"{path}/ContentTransferEncoded",
                "placeholder-attachment",
            )
        elif _checked_plain(transfer, limits.max_attachment_bytes):
            # Valid as it stands and within the limit: decoded when first read.
            attachments.append(
                encoded_attachment(content_id, name, description, content_type, transfer)
            )
            continue
        else:
            try:
                data = decode_base64(transfer, limits.max_attachment_bytes, name)
            except AttachmentTooLargeError:
                raise
            except AttachmentEncodingError as error:
                issues.add(error, f"{path}/ContentTransferEncoded")
        attachments.append(
            Attachment(
                content_id=content_id,
                name=name,
                description=description,
                content_type=content_type,
                data=data,
            )
        )
    _link(attachments, references, issues)
    return tuple(attachments)


def _duplicates(ids: list[str], where: str, issues: Issues) -> None:
    seen: set[str] = set()
    for content_id in ids:
        if content_id and content_id in seen:
            issues.add(DuplicateContentIdError(content_id), where)
        seen.add(content_id)


def _agree(attachments: list[Attachment], references: list[ManifestReference]) -> bool:
    """True when the manifest lists the attachments one for one, in order, each by its
    (non-empty, distinct) ContentId, with no other name or type: the linking below
    would find nothing to say."""
    if len(attachments) != len(references):
        return False
    for attachment, reference in zip(attachments, references, strict=True):
        content_id = attachment.content_id
        if not content_id or content_id != reference.content_id:
            return False
        if (
            reference.content_type
            and attachment.content_type
            and reference.content_type != attachment.content_type
        ):
            return False
        if reference.attachment_name and reference.attachment_name != attachment.name:
            return False
    return len(attachments) < 2 or len({a.content_id for a in attachments}) == len(attachments)


def _link(
    attachments: list[Attachment], references: list[ManifestReference], issues: Issues
) -> None:
    if _agree(attachments, references):
        return
    _duplicates([a.content_id for a in attachments], "AttachmentEncoded", issues)
    _duplicates([r.content_id for r in references], "edXMLBody/edXMLManifest", issues)
    exact = {r.content_id: r for r in references}
    loose = {_bare(r.content_id): r for r in references}
    matched: set[str] = set()
    for attachment in attachments:
        if not attachment.content_id:
            continue
        reference = exact.get(attachment.content_id)
        if reference is None:
            reference = loose.get(_bare(attachment.content_id))
            if reference is not None:
                issues.add(
                    DanglingReferenceError(
                        attachment.content_id,
                        f"matches the manifest's {reference.content_id!r} only once the "
                        "'cid:' prefix is ignored",
                    ),
                    "AttachmentEncoded",
                    "cid-prefix",
                )
        if reference is None:
            issues.add(
                DanglingReferenceError(attachment.content_id, "attachment is not in the manifest"),
                "AttachmentEncoded",
            )
            continue
        matched.add(reference.content_id)
        if (
            reference.content_type
            and attachment.content_type
            and reference.content_type != attachment.content_type
        ):
            issues.add(
                AttachmentError(
                    f"ContentId {attachment.content_id!r}: the manifest says "
                    f"{reference.content_type!r}, the attachment {attachment.content_type!r}"
                ),
                "edXMLBody/edXMLManifest",
                "content-type-mismatch",
            )
        if reference.attachment_name and reference.attachment_name != attachment.name:
            issues.add(
                AttachmentError(
                    f"ContentId {attachment.content_id!r}: the manifest names "
                    f"{reference.attachment_name!r}, the attachment {attachment.name!r}"
                ),
                "edXMLBody/edXMLManifest",
                "attachment-name-mismatch",
            )
    for reference in references:
        if reference.content_id and reference.content_id not in matched:
            issues.add(
                DanglingReferenceError(reference.content_id, "manifest entry has no attachment"),
                "edXMLBody/edXMLManifest",
            )
