"""Re-verifying one ``edx.submit`` record through the one read path, at the time the
record was written, and what the package says.

The verdict is :class:`bus.PackageReader`'s (the router's: trust anchors, CRL, policy,
package limits, the agency pattern, strict mode, the sender bound to its certificate),
so a package the router refused reads as refused here with the same reason code. Kept
apart from reading the log so it can run in a worker thread.
"""

from __future__ import annotations

from dataclasses import replace

from bus.audit.model import AuditedPackage, LogRecord
from bus.lifecycle import PackageKind
from bus.records import content_digest
from bus.settings import Settings
from bus.verification import PackageReader, make_verifier
from edxml import DocumentPackage, EdxbusError, MalformedXmlError, Mode, StatusPackage, parse
from signing import Verifier

__all__ = ["audit_record", "read_refused_for_report", "verifier_from_settings"]

Package = DocumentPackage | StatusPackage


def verifier_from_settings(settings: Settings) -> Verifier:
    """A verifier over the trust anchors (and CRL) the settings name."""
    return make_verifier(settings)


def audit_record(record: LogRecord, reader: PackageReader) -> AuditedPackage:
    """Re-verify one record at its trusted time (``record.verify_at``) and read it.

    The reasons a record is refused before or after the read path are the router's
    (:mod:`bus._router_check`): no value, or a package that is neither a document nor
    a status, is ``malformed-xml``. Fields of a refused package are read for the report
    (:func:`read_refused_for_report`) but the package is ``verified=False`` and nothing
    trusts them.
    """
    value = record.value or b""
    digest = content_digest(value)
    if not value:
        error: EdxbusError = MalformedXmlError("the record carries no package (empty value)")
        return _refused(record, digest, error, None)
    try:
        read = reader.read(value, at=record.verify_at)
    except EdxbusError as refusal:
        return _refused(record, digest, refusal, read_refused_for_report(value, reader))
    except Exception as exc:  # the router names bytes no library can read the same way
        error = MalformedXmlError(f"the record cannot be read ({type(exc).__name__})")
        return _refused(record, digest, error, read_refused_for_report(value, reader))
    package = read.package
    if not isinstance(package, Package):
        error = MalformedXmlError("the record carries no document or status package")
        return _refused(record, digest, error, None)
    return _audited(
        record,
        digest,
        package,
        verified=True,
        signer_agency=read.verified.agency_code,
        signer_fingerprint=read.verified.fingerprint,
    )


def read_refused_for_report(data: bytes, reader: PackageReader) -> Package | None:
    """What a refused package claims, read tolerantly and unverified: no verdict.

    The one place the audit reads a package off the read path, so a report can name
    the document and the agencies of a package the read path refused; ``None`` when
    even a tolerant read finds no document or status package.
    """
    try:
        package = parse(
            data,
            mode=Mode.TOLERANT,
            limits=reader.verifier.limits,
            agency_pattern=reader.agency_pattern,
        ).package
    except EdxbusError:
        return None
    return package if isinstance(package, Package) else None


def _refused(
    record: LogRecord, digest: str, error: EdxbusError, claimed: Package | None
) -> AuditedPackage:
    return _audited(
        record, digest, claimed, verified=False, reason_code=error.reason_code, reason=str(error)
    )


def _audited(
    record: LogRecord,
    digest: str,
    package: Package | None,
    *,
    verified: bool,
    reason_code: str | None = None,
    reason: str | None = None,
    signer_agency: str | None = None,
    signer_fingerprint: str | None = None,
) -> AuditedPackage:
    """The audited package: the verdict, and what ``package`` says (when there is one)."""
    verdict = AuditedPackage(
        record,
        digest,
        verified,
        PackageKind.UNKNOWN,
        reason_code=reason_code,
        reason=reason,
        signer_agency=signer_agency,
        signer_fingerprint=signer_fingerprint,
    )
    if isinstance(package, StatusPackage):
        about = package.response_for
        return replace(
            verdict,
            kind=PackageKind.STATUS,
            document_id=about.document_id,
            actor=package.sender_code,
            recipients=(about.organ_id,) if about.organ_id else (),
            status_code=package.status_code,
            description=package.description or None,
        )
    if isinstance(package, DocumentPackage):
        return replace(
            verdict,
            kind=PackageKind.DOCUMENT,
            document_id=package.document_id,
            actor=package.sender_code,
            recipients=package.recipient_codes,
        )
    return verdict
