"""Re-verifying one ``edx.submit`` record at the time it was written and reading what
the package says, kept apart from reading the log so it can run in a worker thread."""

from __future__ import annotations

from typing import Any

from bus._audit_model import AuditedPackage, LogRecord
from bus.records import content_digest
from bus.settings import Settings
from bus.verification import make_verifier
from edxml import DocumentPackage, EdxbusError, Mode, StatusPackage, parse
from signing import Verifier

__all__ = ["audit_record", "verifier_from_settings"]


def verifier_from_settings(settings: Settings) -> Verifier:
    """A verifier over the trust anchors (and CRL) the settings name."""
    return make_verifier(settings)


def _read(package: DocumentPackage | StatusPackage) -> dict[str, Any]:
    if isinstance(package, StatusPackage):
        return {
            "kind": "STATUS",
            "document_id": package.response_for.document_id,
            "actor": package.sender_code,
            "status_code": str(package.status_code.value),
            "description": package.description or None,
            "recipients": (package.response_for.organ_id,) if package.response_for.organ_id else (),
        }
    return {
        "kind": "SUBMITTED",
        "document_id": package.document_id,
        "actor": package.sender_code,
        "recipients": package.recipient_codes,
    }


def audit_record(
    record: LogRecord, verifier: Verifier, *, agency_pattern: str | None = None
) -> AuditedPackage:
    """Re-verify one record at its trusted time (``record.verify_at``) and read it.

    Fields of a package whose signature fails are read too (so the report can name the
    document) but the package is marked ``verified=False`` and nothing trusts them.
    """
    value = record.value or b""
    digest = content_digest(value)
    if not value:
        return AuditedPackage(
            record,
            digest,
            False,
            "UNREADABLE",
            reason_code="empty-record",
            reason="the record has no value",
        )
    try:
        verified = verifier.verify(value, at=record.verify_at)
        parsed = parse(verified.signed_bytes, mode=Mode.TOLERANT, agency_pattern=agency_pattern)
    except EdxbusError as error:
        try:
            fields = _read(parse(value, mode=Mode.TOLERANT, agency_pattern=agency_pattern).package)
        except EdxbusError:
            fields = {"kind": "UNREADABLE"}
        return AuditedPackage(
            record, digest, False, reason_code=error.reason_code, reason=str(error), **fields
        )
    return AuditedPackage(
        record,
        digest,
        True,
        signer_agency=verified.agency_code,
        signer_fingerprint=verified.fingerprint,
        **_read(parsed.package),
    )
