"""The typed, immutable model of EDXML packages (QCVN 102:2016).

Text fields hold ``""`` when the element is absent or empty: EDXML does not tell
the two apart in practice and ``build`` omits empty elements, so a model always
survives ``parse(build(model)) == model``. Dates are :class:`datetime.date`;
timestamps are aware datetimes (EDXML writes them in Vietnam time).
"""

from __future__ import annotations

import binascii
import hashlib
import mimetypes
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from edxml import _zipwrap
from edxml.codes import BusinessDocType, StatusCode
from edxml.document_id import DocumentId
from edxml.errors import InvalidDocumentIdError
from edxml.limits import Limits

__all__ = [
    "Attachment",
    "Business",
    "BusinessDocumentInfo",
    "DocumentCode",
    "DocumentPackage",
    "DocumentType",
    "ManifestReference",
    "Organization",
    "OtherInfo",
    "Package",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusPackage",
    "TraceHeader",
]


@dataclass(frozen=True, slots=True)
class Organization:
    """``From`` and ``To``: an agency, by code, with the contact data it prints."""

    organ_id: str
    organization_in_charge: str = ""
    organ_name: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True, slots=True)
class DocumentCode:
    """``Code``: the document's number and notation (số và ký hiệu)."""

    number: str
    notation: str

    def __str__(self) -> str:
        return f"{self.number}/{self.notation}"


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    """``PromulgationInfo``: where and when the document was issued."""

    place: str = ""
    date: date | None = None


@dataclass(frozen=True, slots=True)
class DocumentType:
    """``DocumentType``: 1 is the official letter (Công văn)."""

    type: int = 1
    type_detail: int | None = None
    type_name: str = ""


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """``SignerInfo``: who signed the paper document (not the XML signature)."""

    competence: str = ""
    position: str = ""
    full_name: str = ""


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """``OtherInfo``: priority, circulation, typist, copies, pages, appendixes."""

    priority: int = 0
    sphere_of_promulgation: str = ""
    typer_notation: str = ""
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """``ResponseFor``: the earlier document this one answers."""

    organ_id: str = ""
    code: str = ""
    promulgation_date: date | None = None
    document_id: str = ""

    @property
    def is_empty(self) -> bool:
        """True when every part is empty (field systems send such placeholders)."""
        return not (self.organ_id or self.code or self.promulgation_date or self.document_id)


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One ``TraceHeader``: a system the package passed through, and when."""

    organ_id: str = ""
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class StaffInfo:
    """``StaffInfo``: the clerk who handled the step."""

    department: str = ""
    staff: str = ""
    email: str = ""
    mobile: str = ""


@dataclass(frozen=True, slots=True)
class Receiver:
    """``ReceiverList/Receiver`` of an update: who receives it, and how."""

    organ_id: str
    receiver_type: int | None = None


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    """``BussinessDocumentInfo`` of an update: what changes, and for whom."""

    document_info: bool = False
    document_receiver: bool = False
    receivers: tuple[Receiver, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """``ReplacementInfo``: a replaced document and the agencies that had it."""

    document_id: str
    organ_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Business:
    """``Bussiness`` (sic): whether the package is new or acts on an earlier document."""

    doc_type: BusinessDocType = BusinessDocType.NEW
    document_id: str = ""
    reason: str = ""
    paper: bool = False
    staff_info: StaffInfo | None = None
    document_info: BusinessDocumentInfo | None = None
    replacements: tuple[ReplacementInfo, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """Every DocumentId this package acts on (the target, then the replaced ones)."""
        found = [self.document_id] if self.document_id else []
        found += [r.document_id for r in self.replacements if r.document_id not in found]
        return tuple(found)


@dataclass(frozen=True, slots=True)
class ManifestReference:
    """``edXMLManifest/Reference``: the header's promise about one attachment."""

    content_id: str
    attachment_name: str = ""
    content_type: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment. ``data`` holds the decoded transfer bytes (often a zip archive)."""

    content_id: str
    name: str
    description: str = ""
    content_type: str = "application/octet-stream"
    data: bytes = field(default=b"", repr=False)

    @classmethod
    def from_bytes(
        cls,
        name: str,
        data: bytes,
        content_type: str | None = None,
        *,
        zip: bool = False,
        description: str = "",
        content_id: str | None = None,
    ) -> Attachment:
        """An attachment for a file; ``zip=True`` wraps it alone in a zip as the SDK does."""
        guessed = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        payload = _zipwrap.wrap(name, data) if zip else data
        return cls(
            content_id=content_id or f"cid:{uuid.uuid4()}",
            name=name,
            description=description,
            content_type=guessed,
            data=payload,
        )

    @property
    def size(self) -> int:
        """Decoded size in bytes."""
        return len(self.data)

    @property
    def digest(self) -> str:
        """SHA-256 of the decoded bytes, lower-case hex."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def is_zipped(self) -> bool:
        """True when the decoded bytes are a zip archive."""
        return _zipwrap.is_zip(self.data)

    @property
    def bare_content_id(self) -> str:
        """The ContentId without its ``cid:`` prefix."""
        return self.content_id[4:] if self.content_id.startswith("cid:") else self.content_id

    def files(self, limits: Limits | None = None) -> list[tuple[str, bytes]]:
        """The files carried: unzipped (bounded by the limits) or the bytes themselves."""
        if not self.is_zipped:
            return [(self.name, self.data)]
        return _zipwrap.unwrap(self.data, (limits or Limits()).max_unzipped_bytes)

    def content(self, limits: Limits | None = None) -> bytes:
        """The file itself: the single entry of a zip wrapping, else the bytes."""
        files = self.files(limits)
        return files[0][1] if len(files) == 1 else self.data

    def reference(self) -> ManifestReference:
        """The manifest entry ``build`` writes for this attachment."""
        return ManifestReference(self.content_id, self.name, self.content_type, self.description)


class _EncodedAttachment(Attachment):
    """An attachment read from a package, its base64 already checked but decoded only
    when ``data`` is first read (a router never reads it).

    The ``data`` slot stays unset until then: reading it reaches ``__getattr__``,
    which decodes once and fills the slot. Equal to (and hashed as) the
    :class:`Attachment` with the same fields; ``repr`` and ``dataclasses.replace``
    behave as for an ``Attachment``.
    """

    __slots__ = ("_encoded",)

    def __getattr__(self, name: str) -> bytes:
        if name != "data":
            raise AttributeError(name)
        data = binascii.a2b_base64(object.__getattribute__(self, "_encoded"))
        object.__setattr__(self, "data", data)
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attachment):
            return NotImplemented
        return _fields_of(self) == _fields_of(other)

    def __hash__(self) -> int:
        return hash(_fields_of(self))

    def __repr__(self) -> str:
        return repr(Attachment(*_fields_of(self)[:4]))  # ``data`` is not in the repr


def _fields_of(attachment: Attachment) -> tuple[str, str, str, str, bytes]:
    a = attachment
    return (a.content_id, a.name, a.description, a.content_type, a.data)


def encoded_attachment(
    content_id: str, name: str, description: str, content_type: str, encoded: str
) -> Attachment:
    """An :class:`Attachment` whose ``data`` is ``encoded`` (valid, padded base64 with
    no whitespace, already checked), decoded when first read."""
    attachment = object.__new__(_EncodedAttachment)
    setattr_ = object.__setattr__
    setattr_(attachment, "content_id", content_id)
    setattr_(attachment, "name", name)
    setattr_(attachment, "description", description)
    setattr_(attachment, "content_type", content_type)
    setattr_(attachment, "_encoded", encoded)
    return attachment


@dataclass(frozen=True, slots=True)
class DocumentPackage:
    """A document package: the official document, its routing header and attachments."""

    sender: Organization
    recipients: tuple[Organization, ...]
    document_id: str
    code: DocumentCode
    promulgation: PromulgationInfo = PromulgationInfo()
    document_type: DocumentType = DocumentType()
    subject: str = ""
    content: str = ""
    signer: SignerInfo = SignerInfo()
    due_date: date | None = None
    other_info: OtherInfo = OtherInfo()
    steering_type: int | None = None
    to_places: tuple[str, ...] = ()
    response_for: tuple[ResponseFor, ...] = ()
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business = Business()
    attachments: tuple[Attachment, ...] = ()

    @property
    def kind(self) -> Literal["document"]:
        return "document"

    @property
    def sender_code(self) -> str:
        """``From/OrganId``: the agency that must have signed the package."""
        return self.sender.organ_id

    @property
    def recipient_codes(self) -> tuple[str, ...]:
        """``To/OrganId`` of every recipient, in order."""
        return tuple(r.organ_id for r in self.recipients)

    @property
    def business_type(self) -> BusinessDocType:
        return self.business.doc_type

    @property
    def manifest(self) -> tuple[ManifestReference, ...]:
        """The manifest, derived from the attachments."""
        return tuple(a.reference() for a in self.attachments)

    @property
    def parsed_document_id(self) -> DocumentId | None:
        """The DocumentId's parts, or None when it is not in the standard form."""
        try:
            return DocumentId.parse(self.document_id)
        except InvalidDocumentIdError:
            return None


@dataclass(frozen=True, slots=True)
class StatusPackage:
    """A status package: an agency reports the handling of a document it got (or sent)."""

    sender: Organization
    response_for: ResponseFor
    status_code: StatusCode
    description: str = ""
    timestamp: datetime | None = None
    staff_info: StaffInfo | None = None
    trace_headers: tuple[TraceHeader, ...] = ()

    @property
    def kind(self) -> Literal["status"]:
        return "status"

    @property
    def sender_code(self) -> str:
        """``From/OrganId``: the agency reporting the status."""
        return self.sender.organ_id

    @property
    def document_id(self) -> str:
        """The DocumentId the status answers."""
        return self.response_for.document_id


#: Either kind of package.
Package = DocumentPackage | StatusPackage
