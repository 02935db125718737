"""Attachments read as they were before the one-pass read of each attachment: the
reference the differential tests in ``test_reader_differential.py`` hold
:func:`edxml.attachments.read_attachments` to."""

from __future__ import annotations

from lxml import etree

from edxml._issues import Issues
from edxml._names import find_path, q
from edxml.attachments import _checked_plain, _looks_like_placeholder, decode_base64
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

__all__ = ["read_attachments"]

_Element = etree._Element


def _bare(content_id: str) -> str:
    return content_id[4:] if content_id.startswith("cid:") else content_id


def _fields(node: _Element) -> dict[str, _Element]:
    """The first child of each tag: one pass instead of one search per field."""
    found: dict[str, _Element] = {}
    for child in node:
        tag = child.tag
        if isinstance(tag, str) and tag not in found:
            found[tag] = child
    return found


def _text(fields: dict[str, _Element], tag: str) -> str:
    child = fields.get(tag)
    return "" if child is None else (child.text or "").strip()


_CONTENT_ID = q("ContentId")
_ATTACHMENT_NAME = q("AttachmentName")
_CONTENT_TYPE = q("ContentType")
_DESCRIPTION = q("Description")
_TRANSFER = q("ContentTransferEncoded")
_MANIFEST = q("edXMLManifest")
_REFERENCE = q("Reference")
_ENCODED = q("AttachmentEncoded")
_ATTACHMENT = q("Attachment")


def _manifest(body: _Element | None, issues: Issues) -> list[ManifestReference]:
    manifest = None if body is None else find_path(body, _MANIFEST)
    references = []
    for index, node in enumerate(
        () if manifest is None else manifest.iterchildren(_REFERENCE), start=1
    ):
        fields = _fields(node)
        references.append(
            ManifestReference(
                content_id=_text(fields, _CONTENT_ID),
                attachment_name=_text(fields, _ATTACHMENT_NAME),
                content_type=_text(fields, _CONTENT_TYPE),
                description=_text(fields, _DESCRIPTION),
            )
        )
        if not references[-1].content_id:
            path = f"edXMLBody/edXMLManifest/Reference[{index}]/ContentId"
            issues.add(MissingFieldError(path), path)
    return references


def read_attachments(
    root: _Element, body: _Element | None, limits: Limits, issues: Issues
) -> tuple[Attachment, ...]:
    """Check (and, unless it is on one line, decode) every attachment, and link it to
    the manifest."""
    encoded = find_path(root, _ENCODED)
    nodes = [] if encoded is None else list(encoded.iterchildren(_ATTACHMENT))
    if len(nodes) > limits.max_attachments:
        raise TooManyAttachmentsError(limits.max_attachments, len(nodes))
    references = _manifest(body, issues)
    if len(references) > limits.max_attachments:
        raise TooManyAttachmentsError(limits.max_attachments, len(references))
    attachments: list[Attachment] = []
    for index, node in enumerate(nodes, start=1):
        path = f"AttachmentEncoded/Attachment[{index}]"
        fields = _fields(node)
        content_id = _text(fields, _CONTENT_ID)
        name = _text(fields, _ATTACHMENT_NAME)
        if not content_id:
            issues.add(MissingFieldError(f"{path}/ContentId"), f"{path}/ContentId")
        transfer = fields.get(_TRANSFER)
        text = "" if transfer is None else (transfer.text or "")
        data = b""
        if transfer is None:
            issues.add(MissingFieldError(f"{path}/ContentTransferEncoded"), path)
        elif _looks_like_placeholder(text[:256]):
            issues.add(
                AttachmentEncodingError(
                    f"attachment {name or content_id!r} holds a placeholder "
                    f"({text.strip()[:40]!r}) instead of base64 content"
                ),
                f"{path}/ContentTransferEncoded",
                "placeholder-attachment",
            )
        elif _checked_plain(text, limits.max_attachment_bytes):
            # Valid as it stands and within the limit: decoded when first read.
            attachments.append(
                encoded_attachment(
                    content_id,
                    name,
                    _text(fields, _DESCRIPTION),
                    _text(fields, _CONTENT_TYPE),
                    text,
                )
            )
            continue
        else:
            try:
                data = decode_base64(text, limits.max_attachment_bytes, name)
            except AttachmentTooLargeError:
                raise
            except AttachmentEncodingError as error:
                issues.add(error, f"{path}/ContentTransferEncoded")
        attachments.append(
            Attachment(
                content_id=content_id,
                name=name,
                description=_text(fields, _DESCRIPTION),
                content_type=_text(fields, _CONTENT_TYPE),
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


def _link(
    attachments: list[Attachment], references: list[ManifestReference], issues: Issues
) -> None:
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
