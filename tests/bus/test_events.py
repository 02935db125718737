"""Avro lifecycle events and agency records: framing, fingerprints, schema evolution;
typed events (bus.lifecycle) written byte for byte as the dict records were."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import pytest
from fastavro.schema import parse_schema
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.errors import EventDecodeError
from bus.events import AGENCY_RECORD, LIFECYCLE_EVENT, AvroCodec, schema_fingerprint
from bus.lifecycle import (
    EventKind,
    LifecycleEvent,
    PackageKind,
    Source,
    decode_event,
    encode_event,
)
from bus.router.records import delivered_event, rejected_event, status_event, submitted_event
from edxml import BusinessDocType, DocumentPackage, StatusCode, StatusPackage
from edxml.errors import EdxmlError
from tests.strategies import document_packages, status_packages

WHEN = datetime(2026, 11, 23, 2, 30, 0, 123000, tzinfo=UTC)


def _event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e1",
        "kind": "SUBMITTED",
        "occurred_at": WHEN,
        "document_id": "000.00.00.G22,2026/11/23,7816/VPCP-TTĐT",
        "actor": "000.00.00.G22",
        "recipient": None,
        "package_kind": "DOCUMENT",
        "business_type": "new",
        "target_document_id": None,
        "status_code": None,
        "description": None,
        "reason_code": None,
        "recipients": ["000.00.00.H41", "000.00.24.H44"],
        "content_digest": "ab" * 32,
        "source_topic": "edx.submit",
        "source_partition": 1,
        "source_offset": 42,
    }
    base.update(changes)
    return base


def _shipped_schema(name: str) -> dict[str, Any]:
    text = resources.files("bus").joinpath("schemas", name).read_text(encoding="utf-8")
    parsed = parse_schema(json.loads(text))
    assert isinstance(parsed, dict)
    return parsed


def test_record_carries_single_object_header_and_fingerprint() -> None:
    data = LIFECYCLE_EVENT.encode(_event())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == LIFECYCLE_EVENT.fingerprint
    assert LIFECYCLE_EVENT.fingerprint == schema_fingerprint(
        _shipped_schema("lifecycle_event.v2.avsc")
    )


def test_round_trip_keeps_every_field() -> None:
    record = _event(subject="Về việc triển khai", code_number="7816", due_date=date(2026, 12, 1))
    decoded = LIFECYCLE_EVENT.decode(LIFECYCLE_EVENT.encode(record))
    assert decoded["occurred_at"] == WHEN
    assert decoded["subject"] == "Về việc triển khai"
    assert decoded["due_date"] == date(2026, 12, 1)
    assert decoded["recipients"] == record["recipients"]


def test_reader_of_the_new_schema_reads_records_of_the_previous_one() -> None:
    old = LIFECYCLE_EVENT.encode(
        _event(kind="REJECTED", reason_code="replay", description="other bytes"), version=1
    )
    # Written with v1: its fingerprint is v1's, not the newest.
    assert old[2:10] == schema_fingerprint(_shipped_schema("lifecycle_event.v1.avsc"))
    assert old[2:10] != LIFECYCLE_EVENT.fingerprint
    decoded = LIFECYCLE_EVENT.decode(old)
    assert decoded["kind"] == "REJECTED"
    assert decoded["reason_code"] == "replay"
    # Fields v1 did not have take their v2 defaults.
    assert decoded["subject"] is None
    assert decoded["due_date"] is None
    assert decoded["code_number"] is None


def test_every_shipped_version_is_known() -> None:
    assert set(LIFECYCLE_EVENT.versions()) >= {1, 2}
    assert set(AGENCY_RECORD.versions()) >= {1}


def test_unknown_fingerprint_is_a_named_error() -> None:
    data = bytearray(LIFECYCLE_EVENT.encode(_event()))
    data[2:10] = b"\x00" * 8
    with pytest.raises(EventDecodeError, match="unknown writer schema fingerprint"):
        LIFECYCLE_EVENT.decode(bytes(data))


@pytest.mark.parametrize("data", [b"", b"\xc3", b"{json}", b"\xc3\x02" + b"\x00" * 20])
def test_not_single_object_encoding_is_a_named_error(data: bytes) -> None:
    with pytest.raises(EventDecodeError) as caught:
        LIFECYCLE_EVENT.decode(data)
    assert caught.value.reason_code == "event-decode-error"


def test_truncated_body_is_a_named_error() -> None:
    data = LIFECYCLE_EVENT.encode(_event())
    with pytest.raises(EventDecodeError, match="does not decode"):
        LIFECYCLE_EVENT.decode(data[:14])


def test_codec_without_schema_files_is_an_error() -> None:
    with pytest.raises(EventDecodeError, match="no schema files"):
        AvroCodec("no_such_family")


def test_agency_record_round_trip() -> None:
    record = {
        "code": "000.46.24.H44",
        "name": "UBND xã Hưng Lộc",
        "parent": "000.00.24.H44",
        "level": 3,
        "cert_fingerprints": ["aa" * 32],
        "state": "SUSPENDED",
        "updated_at": WHEN,
    }
    assert AGENCY_RECORD.decode(AGENCY_RECORD.encode(record)) == record


_text = st.text(max_size=40)
_optional = st.none() | _text


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["SUBMITTED", "DELIVERED", "STATUS", "REJECTED"]),
    document_id=_text,
    recipient=_optional,
    description=_optional,
    recipients=st.lists(_text, max_size=5),
    offset=st.integers(min_value=0, max_value=2**62),
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_any_event_survives_both_versions(
    kind: str,
    document_id: str,
    recipient: str | None,
    description: str | None,
    recipients: list[str],
    offset: int,
    at: datetime,
) -> None:
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # timestamp-millis
    record = _event(
        kind=kind,
        document_id=document_id,
        recipient=recipient,
        description=description,
        recipients=recipients,
        source_offset=offset,
        occurred_at=at,
    )
    for version in (1, 2):
        decoded = LIFECYCLE_EVENT.decode(LIFECYCLE_EVENT.encode(record, version=version))
        assert {k: decoded[k] for k in record} == record


# --- typed events: bus.lifecycle's codec -------------------------------------------


def _old_record(event: LifecycleEvent) -> dict[str, Any]:
    """``event`` as the dict the router used to build and encode itself."""
    return {
        "event_id": event.event_id,
        "kind": str(event.kind.value),
        "occurred_at": event.occurred_at,
        "document_id": event.document_id,
        "actor": event.actor,
        "recipient": event.recipient,
        "package_kind": str(event.package_kind.value),
        "business_type": event.business_type,
        "target_document_id": event.target_document_id,
        "status_code": None if event.status_code is None else str(event.status_code.value),
        "description": event.description,
        "reason_code": event.reason_code,
        "subject": event.subject,
        "code_number": event.code_number,
        "code_notation": event.code_notation,
        "due_date": event.due_date,
        "recipients": list(event.recipients),
        "content_digest": event.content_digest,
        "source_topic": event.source.topic,
        "source_partition": event.source.partition,
        "source_offset": event.source.offset,
    }


_WHERE = Source("edx.submit", 3, 1234)


def _old_document_dict(
    kind: str, package: DocumentPackage, recipient: str | None
) -> dict[str, Any]:
    """The dict the router's builders wrote for a document, before events were typed."""
    digest = "cd" * 32
    business = package.business
    target = None
    if business.doc_type is not BusinessDocType.NEW:
        target = business.document_id or next(iter(business.targets), None)
    material = "\x1f".join((package.document_id, recipient or "", kind, digest))
    return {
        "event_id": hashlib.sha256(material.encode("utf-8")).hexdigest()[:32],
        "kind": kind,
        "occurred_at": WHEN,
        "document_id": package.document_id,
        "actor": package.sender_code,
        "recipient": recipient,
        "package_kind": "DOCUMENT",
        "business_type": business.doc_type.label,
        "target_document_id": target or None,
        "status_code": None,
        "description": None,
        "reason_code": None,
        "subject": package.subject or None,
        "code_number": package.code.number or None,
        "code_notation": package.code.notation or None,
        "due_date": package.due_date,
        "recipients": list(package.recipient_codes) if recipient is None else [],
        "content_digest": digest,
        "source_topic": _WHERE.topic,
        "source_partition": _WHERE.partition,
        "source_offset": _WHERE.offset,
    }


@settings(max_examples=40, deadline=None)
@given(package=document_packages(max_recipients=4))
def test_document_events_are_the_bytes_the_dict_path_wrote(package: DocumentPackage) -> None:
    digest = "cd" * 32
    submitted = submitted_event(package, digest, _WHERE, WHEN)
    assert encode_event(submitted) == LIFECYCLE_EVENT.encode(
        _old_document_dict("SUBMITTED", package, None)
    )
    recipient = package.recipient_codes[0]
    delivered = delivered_event(package, recipient, digest, _WHERE, WHEN)
    assert encode_event(delivered) == LIFECYCLE_EVENT.encode(
        _old_document_dict("DELIVERED", package, recipient)
    )


@settings(max_examples=40, deadline=None)
@given(package=status_packages())
def test_status_events_are_the_bytes_the_dict_path_wrote(package: StatusPackage) -> None:
    digest, recipient = "ef" * 32, "000.00.00.H41"
    code = str(package.status_code.value)
    material = "\x1f".join((package.document_id, recipient, f"STATUS:{code}", digest))
    old = _event(
        event_id=hashlib.sha256(material.encode("utf-8")).hexdigest()[:32],
        kind="STATUS",
        document_id=package.document_id,
        actor=package.sender_code,
        recipient=recipient,
        package_kind="STATUS",
        business_type=None,
        status_code=code,
        description=package.description or None,
        recipients=[],
        content_digest=digest,
        source_partition=_WHERE.partition,
        source_offset=_WHERE.offset,
    )
    event = status_event(package, recipient, digest, _WHERE, WHEN)
    assert event.status_code is package.status_code
    assert encode_event(event) == LIFECYCLE_EVENT.encode(old)


def test_a_rejection_is_the_bytes_the_dict_path_wrote() -> None:
    error = EdxmlError("the package  is\nnot EDXML")
    event = rejected_event(
        error,
        claimed_sender="000.00.00.G22",
        claimed_document_id="unidentified:abcd",
        package_kind=PackageKind.UNKNOWN,
        digest="01" * 32,
        source=_WHERE,
        at=WHEN,
    )
    material = "\x1f".join(("unidentified:abcd", "", "REJECTED:invalid-package", "01" * 32))
    old = _event(
        event_id=hashlib.sha256(material.encode("utf-8")).hexdigest()[:32],
        kind="REJECTED",
        document_id="unidentified:abcd",
        package_kind="UNKNOWN",
        business_type=None,
        reason_code="invalid-package",
        description="the package is not EDXML",
        recipients=[],
        content_digest="01" * 32,
        source_partition=3,
        source_offset=1234,
    )
    assert encode_event(event) == LIFECYCLE_EVENT.encode(old)
    assert decode_event(LIFECYCLE_EVENT.encode(old)) == event


_names = st.text(max_size=30)
_maybe = st.none() | _names


@st.composite
def lifecycle_events(draw: st.DrawFn) -> LifecycleEvent:
    """Any event the codec carries: every kind, code and optional field."""
    at = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    )
    return LifecycleEvent(
        event_id=draw(_names),
        kind=draw(st.sampled_from(EventKind)),
        occurred_at=at.replace(microsecond=at.microsecond // 1000 * 1000),  # timestamp-millis
        document_id=draw(_names),
        actor=draw(_names),
        package_kind=draw(st.sampled_from(PackageKind)),
        content_digest=draw(_names),
        source=Source(
            draw(_names), draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**63 - 1))
        ),
        recipient=draw(_maybe),
        business_type=draw(_maybe),
        target_document_id=draw(_maybe),
        status_code=draw(st.none() | st.sampled_from(StatusCode)),
        description=draw(_maybe),
        reason_code=draw(_maybe),
        subject=draw(_maybe),
        code_number=draw(_maybe),
        code_notation=draw(_maybe),
        due_date=draw(st.none() | st.dates(date(1970, 1, 1), date(2199, 12, 31))),
        recipients=tuple(draw(st.lists(_names, max_size=5))),
    )


@settings(max_examples=100, deadline=None)
@given(event=lifecycle_events())
def test_any_typed_event_round_trips(event: LifecycleEvent) -> None:
    data = encode_event(event)
    assert decode_event(data) == event
    assert data == LIFECYCLE_EVENT.encode(_old_record(event))


def test_a_v1_record_decodes_to_a_typed_event() -> None:
    old = LIFECYCLE_EVENT.encode(
        _event(
            kind="STATUS",
            package_kind="STATUS",
            recipient="000.00.00.G22",
            status_code="13",
            description="Thu hồi",
            recipients=[],
        ),
        version=1,
    )
    assert old[2:10] == schema_fingerprint(_shipped_schema("lifecycle_event.v1.avsc"))
    event = decode_event(old)
    assert (event.kind, event.package_kind) == (EventKind.STATUS, PackageKind.STATUS)
    assert event.status_code is StatusCode.TAKE_BACK
    assert event.source == Source("edx.submit", 1, 42)
    assert event.occurred_at == WHEN
    # Fields v1 did not have take their v2 defaults.
    assert (event.subject, event.code_number, event.due_date) == (None, None, None)


@pytest.mark.parametrize("code", ["99", "", "1"])
def test_a_status_code_the_bus_does_not_know_is_a_decode_error(code: str) -> None:
    data = LIFECYCLE_EVENT.encode(_event(kind="STATUS", package_kind="STATUS", status_code=code))
    with pytest.raises(EventDecodeError, match="does not hold an event"):
        decode_event(data)
