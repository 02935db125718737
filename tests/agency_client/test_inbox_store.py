"""The inbox's deduplication memory and quarantine on a real SQLite file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime
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


def test_a_store_written_before_migrations_reads_the_same(tmp_path: Path) -> None:
    """A file the older stores wrote (epoch seconds) is adopted; every instant is kept."""
    path = tmp_path / "store.sqlite"
    taken_at, quarantined_at = 1763863200.4999995, 1763863205.25
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            """CREATE TABLE inbox_taken (
                id INTEGER NOT NULL, kind VARCHAR NOT NULL, sender VARCHAR NOT NULL,
                document_id VARCHAR NOT NULL, digest VARCHAR(64) NOT NULL, data BLOB NOT NULL,
                taken_at FLOAT NOT NULL, code VARCHAR NOT NULL, promulgation_date DATE,
                status_code VARCHAR(2), PRIMARY KEY (id),
                CONSTRAINT uq_inbox_taken UNIQUE (kind, sender, document_id, digest))"""
        )
        db.execute(
            """CREATE TABLE inbox_quarantine (
                id INTEGER NOT NULL, source VARCHAR NOT NULL, sender VARCHAR NOT NULL,
                document_id VARCHAR NOT NULL, reason_code VARCHAR NOT NULL, reason TEXT NOT NULL,
                digest VARCHAR(64) NOT NULL, data BLOB NOT NULL, at FLOAT NOT NULL,
                PRIMARY KEY (id), CONSTRAINT uq_inbox_quarantine UNIQUE (source, digest))"""
        )
        db.execute(
            "INSERT INTO inbox_taken (id, kind, sender, document_id, digest, data, taken_at,"
            " code, promulgation_date) VALUES (1, 'document', ?, ?, 'a', x'78', ?,"
            " '12/UBND-VP', '2026-11-23')",
            (SENDER, DOC, taken_at),
        )
        db.execute(
            "INSERT INTO inbox_quarantine (id, source, sender, document_id, reason_code,"
            " reason, digest, data, at) VALUES (1, 'inbox.H41:0:7', ?, ?, 'bad-signature',"
            " 'no', 'q', x'79', ?)",
            (SENDER, DOC, quarantined_at),
        )
    with InboxStore(path) as store:
        taken = store.received_document(DOC)
        assert taken is not None
        assert taken.taken_at == datetime.fromtimestamp(taken_at, UTC)
        assert taken.promulgation_date == date(2026, 11, 23)
        assert store.has_taken("document", SENDER, DOC, "a")
        (kept,) = store.quarantined()
        assert kept.at == datetime.fromtimestamp(quarantined_at, UTC)
        assert kept.reason_code == "bad-signature"
