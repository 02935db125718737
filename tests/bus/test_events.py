"""Avro lifecycle events and agency records: framing, fingerprints, schema evolution."""

from __future__ import annotations

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
