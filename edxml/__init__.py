"""EDXML (QCVN 102:2016) packages: model, parse, build, validate. Bytes in, objects out.

The public API of the format layer; other packages import only these names::

    result = edxml.parse(data, mode=edxml.Mode.TOLERANT)
    result.package, result.deviations, result.signature
    data = edxml.build(edxml.new_document("000.00.00.G22", ["000.00.00.H41"], ...))
"""

from edxml._dates import VIETNAM_TIME, format_date, format_timestamp, parse_date, parse_timestamp
from edxml._names import DSIG_NS, EDXML_NS
from edxml._xmlsafe import safe_fromstring
from edxml.agency import DEFAULT_AGENCY_PATTERN, AgencyCode
from edxml.attachments import decode_base64, encode_base64, make_attachment, package_digest
from edxml.build import build
from edxml.codes import BusinessDocType, Mode, StatusCode
from edxml.document_id import DocumentId
from edxml.errors import (
    AttachmentEncodingError,
    AttachmentError,
    AttachmentTooLargeError,
    BusError,
    ClientError,
    DanglingReferenceError,
    DuplicateContentIdError,
    EdxbusError,
    EdxmlError,
    ForbiddenDtdError,
    ForbiddenEntityError,
    InvalidAgencyCodeError,
    InvalidCodeListError,
    InvalidDateError,
    InvalidDocumentIdError,
    InvalidFieldError,
    MalformedXmlError,
    MissingFieldError,
    NotEdxmlError,
    PackageTooLargeError,
    SchemaError,
    SigningError,
    TooDeepError,
    TooManyAttachmentsError,
    UnsafeXmlError,
)
from edxml.factory import new_document, new_status, now_in_vietnam
from edxml.limits import Limits
from edxml.model import (
    Attachment,
    Business,
    BusinessDocumentInfo,
    DocumentCode,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPackage,
    TraceHeader,
)
from edxml.parse import detect_kind, parse, sender_code_of, signature_info
from edxml.result import Deviation, ParseResult, SignatureInfo

__all__ = [
    "DEFAULT_AGENCY_PATTERN",
    "DSIG_NS",
    "EDXML_NS",
    "VIETNAM_TIME",
    "AgencyCode",
    "Attachment",
    "AttachmentEncodingError",
    "AttachmentError",
    "AttachmentTooLargeError",
    "BusError",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "ClientError",
    "DanglingReferenceError",
    "Deviation",
    "DocumentCode",
    "DocumentId",
    "DocumentPackage",
    "DocumentType",
    "DuplicateContentIdError",
    "EdxbusError",
    "EdxmlError",
    "ForbiddenDtdError",
    "ForbiddenEntityError",
    "InvalidAgencyCodeError",
    "InvalidCodeListError",
    "InvalidDateError",
    "InvalidDocumentIdError",
    "InvalidFieldError",
    "Limits",
    "MalformedXmlError",
    "ManifestReference",
    "MissingFieldError",
    "Mode",
    "NotEdxmlError",
    "Organization",
    "OtherInfo",
    "Package",
    "PackageTooLargeError",
    "ParseResult",
    "PromulgationInfo",
    "Receiver",
    "ReplacementInfo",
    "ResponseFor",
    "SchemaError",
    "SignatureInfo",
    "SignerInfo",
    "SigningError",
    "StaffInfo",
    "StatusCode",
    "StatusPackage",
    "TooDeepError",
    "TooManyAttachmentsError",
    "TraceHeader",
    "UnsafeXmlError",
    "build",
    "decode_base64",
    "detect_kind",
    "encode_base64",
    "format_date",
    "format_timestamp",
    "make_attachment",
    "new_document",
    "new_status",
    "now_in_vietnam",
    "package_digest",
    "parse",
    "parse_date",
    "parse_timestamp",
    "safe_fromstring",
    "sender_code_of",
    "signature_info",
]
