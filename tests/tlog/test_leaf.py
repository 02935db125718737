"""The leaf record's canonical encoding: stable bytes, exact round trips, strict decoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.errors import EventDecodeError
from bus.lifecycle import EventKind
from bus.tlog import Coordinates, Decision, LeafRecord, leaf_from_event
from tests.tlog._events import event


@given(
    st.sampled_from([EventKind.SUBMITTED, EventKind.STATUS, EventKind.REJECTED]),
    st.integers(0, 10**6),
)
def test_leaves_round_trip_byte_for_byte(kind: EventKind, n: int) -> None:
    leaf = leaf_from_event(event(kind, n, recipient="000.00.00.G22"), Coordinates("e", 1, n))
    assert leaf is not None
    assert LeafRecord.decode(leaf.encode()) == leaf


def test_the_encoding_is_sorted_compact_utf8_json() -> None:
    leaf = leaf_from_event(
        event(EventKind.SUBMITTED, 3, document_id="Sở,1"), Coordinates("e", 0, 9)
    )
    assert leaf is not None
    data = leaf.encode()
    assert b" " not in data
    assert "Sở,1".encode() in data  # UTF-8, not \\u escapes
    body = json.loads(data)
    assert list(body) == sorted(body)
    assert body["decision"] == Decision.ACCEPTED.value
    assert body["submit"] == {"offset": 3, "partition": 1, "topic": "edx.submit"}
    assert body["event"] == {"offset": 9, "partition": 0, "topic": "e"}
    assert body["decided_at"] == "2026-11-29T12:00:03.000+00:00"


def test_delivered_events_make_no_leaf_and_refusals_are_refused() -> None:
    assert leaf_from_event(event(EventKind.DELIVERED, 1), Coordinates("e", 0, 1)) is None
    refused = leaf_from_event(event(EventKind.REJECTED, 2), Coordinates("e", 0, 2))
    assert refused is not None
    assert (refused.decision, refused.reason_code) == (Decision.REFUSED, "replay")


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"v":2}',
        # Valid content, but not canonical (spaces): would hash differently.
        b'{"v": 1}',
    ],
)
def test_non_canonical_leaves_are_refused(data: bytes) -> None:
    with pytest.raises(EventDecodeError):
        LeafRecord.decode(data)
