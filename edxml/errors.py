"""The one exception tree of edxbus.

Every error edxbus raises on purpose derives from :class:`EdxbusError`. The tree,
with the module that defines each branch::

    EdxbusError                      neutral root; .reason_code, a stable kebab-case id
    ├── EdxmlError                   edxml.errors: the package's bytes are not acceptable EDXML
    │   ├── UnsafeXmlError           forbidden XML constructs
    │   │   ├── ForbiddenDtdError        a DOCTYPE / DTD (XXE and billion laughs start here)
    │   │   ├── ForbiddenEntityError     an entity declaration or reference
    │   │   └── TooDeepError             nesting deeper than Limits.max_depth (.limit, .depth)
    │   ├── PackageTooLargeError     more bytes than Limits.max_package_bytes (.limit, .size)
    │   ├── MalformedXmlError        not well-formed XML, or not valid UTF-8
    │   ├── NotEdxmlError            well-formed, but not an EDXML package (root, namespace)
    │   ├── SchemaError              violates the shipped QCVN 102 XSD (.problems)
    │   ├── MissingFieldError        a mandatory field is absent or empty (.field)
    │   ├── InvalidFieldError        a field is present but wrong (.field, .value)
    │   │   ├── InvalidAgencyCodeError   (.agency)
    │   │   ├── InvalidDocumentIdError
    │   │   ├── InvalidDateError
    │   │   └── InvalidCodeListError     an unknown status code or business type
    │   └── AttachmentError          attachments and the manifest disagree or overflow
    │       ├── DuplicateContentIdError
    │       ├── DanglingReferenceError   manifest entry without attachment, or the reverse
    │       ├── AttachmentEncodingError  not base64, or a zip that will not open
    │       ├── AttachmentTooLargeError  (.limit, .size)
    │       │   └── TextTooLongError     base64 text longer than the hardened parser reads (.limit)
    │       └── TooManyAttachmentsError  (.limit, .size)
    ├── SigningError                 signing.errors: who signed what cannot be proven
    ├── BusError                     bus.errors: transport and storage; .retriable
    └── ClientError                  agency_client.errors: the SDK's view of a refusal

The branches below ``SigningError``, ``BusError`` and ``ClientError`` are drawn in
their own modules' docstrings; their bases live here so that every layer can
catch the whole family without importing a layer above it.

Errors carry data rather than only text, and where they resemble a built-in they
subclass it too (``PackageTooLargeError`` is a ``ValueError``), so callers can
handle them either way. The CLI catches :class:`EdxbusError` once and prints
``str(error)``: messages are written for a clerk, one line, no traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "AttachmentEncodingError",
    "AttachmentError",
    "AttachmentTooLargeError",
    "BusError",
    "ClientError",
    "DanglingReferenceError",
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
    "MalformedXmlError",
    "MissingFieldError",
    "NotEdxmlError",
    "PackageTooLargeError",
    "SchemaError",
    "SigningError",
    "TextTooLongError",
    "TooDeepError",
    "TooManyAttachmentsError",
    "UnsafeXmlError",
]


class EdxbusError(Exception):
    """Root of every error edxbus raises on purpose.

    ``reason_code`` is a stable, kebab-case identifier: it travels in dead-letter
    headers and REJECTED events, and scripts may match on it. Messages may change.
    """

    reason_code: ClassVar[str] = "edxbus-error"


# --- the four branches -------------------------------------------------------


class EdxmlError(EdxbusError):
    """The bytes are not an acceptable EDXML package."""

    reason_code = "invalid-package"


class SigningError(EdxbusError):
    """The signature, the certificate or the sender binding cannot be proven."""

    reason_code = "signature-error"


class BusError(EdxbusError):
    """Transport or storage failed. ``retriable`` says whether trying again may help."""

    reason_code = "bus-error"
    retriable: bool = False


class ClientError(EdxbusError):
    """An agency's request could not be carried out, as the SDK reports it."""

    reason_code = "client-error"


# --- format errors -------------------------------------------------------------


class UnsafeXmlError(EdxmlError):
    """The XML uses a construct the hardened parser refuses."""

    reason_code = "unsafe-xml"


class ForbiddenDtdError(UnsafeXmlError):
    """A DOCTYPE declaration: EDXML never needs one, and XXE attacks need one."""

    reason_code = "forbidden-dtd"


class ForbiddenEntityError(UnsafeXmlError):
    """An entity declaration or an unresolved entity reference."""

    reason_code = "forbidden-entity"


class TooDeepError(UnsafeXmlError):
    """Elements nest deeper than the limit allows."""

    reason_code = "too-deep"

    def __init__(self, limit: int, depth: int) -> None:
        super().__init__(f"XML nests {depth} levels deep, more than the limit of {limit}")
        self.limit = limit
        self.depth = depth


class PackageTooLargeError(EdxmlError, ValueError):
    """The package is larger than the limit allows."""

    reason_code = "package-too-large"

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"package is {size} bytes, more than the limit of {limit} bytes")
        self.limit = limit
        self.size = size


class MalformedXmlError(EdxmlError, ValueError):
    """Not well-formed XML, or not valid UTF-8. ``line`` is 1-based when known."""

    reason_code = "malformed-xml"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"{message} (line {line})")
        self.line = line


class NotEdxmlError(EdxmlError):
    """Well-formed XML that is not an EDXML package (wrong root or namespace)."""

    reason_code = "not-edxml"


class SchemaError(EdxmlError):
    """The package violates the QCVN 102 schema shipped with edxbus."""

    reason_code = "schema-violation"

    def __init__(self, problems: Sequence[str]) -> None:
        first = problems[0] if problems else "schema violation"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"schema: {first}{more}")
        self.problems = tuple(problems)


class MissingFieldError(EdxmlError):
    """A mandatory field is absent or empty."""

    reason_code = "missing-field"

    def __init__(self, field: str) -> None:
        super().__init__(f"mandatory field {field} is missing or empty")
        self.field = field


class InvalidFieldError(EdxmlError, ValueError):
    """A field is present but its value is wrong."""

    reason_code = "invalid-field"

    def __init__(self, field: str, value: str, why: str = "is not valid") -> None:
        super().__init__(f"{field} {value!r} {why}")
        self.field = field
        self.value = value


class InvalidAgencyCodeError(InvalidFieldError):
    """An agency code does not match the configured pattern."""

    reason_code = "invalid-agency-code"

    def __init__(self, agency: str, field: str = "agency code", why: str = "") -> None:
        super().__init__(field, agency, why or "is not a valid agency code (G1.G2.G3.G4)")
        self.agency = agency


class InvalidDocumentIdError(InvalidFieldError):
    """A DocumentId is not of the form ``{OrganId},{yyyy/MM/dd},{Number}/{Notation}``."""

    reason_code = "invalid-document-id"


class InvalidDateError(InvalidFieldError):
    """A date or timestamp is not in the EDXML format (``yyyy/MM/dd[ HH:mm:ss]``)."""

    reason_code = "invalid-date"


class InvalidCodeListError(InvalidFieldError):
    """A value is not in its code list (status code, business document type)."""

    reason_code = "invalid-code"


class AttachmentError(EdxmlError):
    """Attachments and the manifest disagree, or attachments overflow the limits."""

    reason_code = "attachment-error"


class DuplicateContentIdError(AttachmentError):
    """Two attachments (or two manifest entries) share one ContentId."""

    reason_code = "duplicate-content-id"

    def __init__(self, content_id: str) -> None:
        super().__init__(f"ContentId {content_id!r} appears more than once")
        self.content_id = content_id


class DanglingReferenceError(AttachmentError):
    """A manifest entry names no attachment, or an attachment is not in the manifest."""

    reason_code = "dangling-reference"

    def __init__(self, content_id: str, why: str) -> None:
        super().__init__(f"ContentId {content_id!r}: {why}")
        self.content_id = content_id


class AttachmentEncodingError(AttachmentError, ValueError):
    """An attachment's content is not valid base64, or its zip will not open."""

    reason_code = "attachment-encoding"


class AttachmentTooLargeError(AttachmentError, ValueError):
    """One attachment, decoded, is larger than the limit."""

    reason_code = "attachment-too-large"

    def __init__(self, limit: int, size: int, name: str = "") -> None:
        label = f"attachment {name!r}" if name else "attachment"
        super().__init__(f"{label} is {size} bytes, more than the limit of {limit} bytes")
        self.limit = limit
        self.size = size


class TextTooLongError(AttachmentTooLargeError):
    """A text node, in practice an attachment's base64, is longer than libxml2 reads
    without ``huge_tree``, which the hardened parser keeps off (.limit in characters).
    """

    reason_code = "attachment-too-large"

    def __init__(self, limit: int) -> None:
        EdxmlError.__init__(
            self,
            f"an attachment's base64 text is longer than the {limit:,} characters the "
            f"hardened parser reads (about {limit * 3 // 4:,} bytes decoded; "
            "Limits.large_text lifts the cap)",
        )
        self.limit = limit
        self.size = limit + 1


class TooManyAttachmentsError(AttachmentError, ValueError):
    """The package carries more attachments than the limit."""

    reason_code = "too-many-attachments"

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"package carries {size} attachments, more than the limit of {limit}")
        self.limit = limit
        self.size = size
