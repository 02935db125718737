"""The inbox's deduplication memory and quarantine on a real SQLite file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from agency_client._inbox_store import InboxStore

SENDER = "000.00.00.H41"
DOC = "000.00.00.H41,2026/11/23,12/UBND-VP"


def test_a_package_is_taken_once_by_sender_id_and_digest(tmp_path: Path) -> None:
    with InboxStore(tmp_path / "store.sqlite") as store:
        assert not store.has_taken("document", SENDER, DOC, "a")
        assert store.record_taken(
            "document",
            SENDER,
            DOC,
            "a",
            b"x",
            code="12/UBND-VP",
            promulgation_date=date(2026, 11, 23),
        )
        assert store.has_taken("document", SENDER, DOC, "a")
        assert not store.record_taken("document", SENDER, DOC, "a", b"x")
        # Other bytes, another sender, another kind: other packages.
        assert not store.has_taken("document", SENDER, DOC, "b")
        assert not store.has_taken("document", "000.00.00.H44", DOC, "a")
        assert not store.has_taken("status", SENDER, DOC, "a")
        assert store.taken_count("document") == 1


def test_a_received_document_is_found_for_answering(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with InboxStore(path) as store:
        store.record_taken(
            "document",
            SENDER,
            DOC,
            "a",
            b"x",
            code="12/UBND-VP",
            promulgation_date=date(2026, 11, 23),
        )
    with InboxStore(path) as store:
        found = store.received_document(DOC)
        assert found is not None
        assert (found.sender, found.code, found.promulgation_date) == (
            SENDER,
            "12/UBND-VP",
            date(2026, 11, 23),
        )
        assert store.received_document("nothing") is None


def test_quarantine_keeps_the_bytes_and_the_reason_once(tmp_path: Path) -> None:
    with InboxStore(tmp_path / "store.sqlite") as store:
        for _ in range(2):
            store.quarantine("inbox/0/4", SENDER, DOC, "digest-mismatch", "changed", b"x", "d")
        store.quarantine("inbox/0/4", SENDER, DOC, "digest-mismatch", "changed", b"y", "e")
        kept = store.quarantined()
        assert [(q.reason_code, q.data) for q in kept] == [
            ("digest-mismatch", b"x"),
            ("digest-mismatch", b"y"),
        ]
