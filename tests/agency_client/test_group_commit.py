"""Group commit of the local stores, on a real SQLite file: many writes, one transaction.

Concurrent writers queued before the committer runs share its transaction (asyncio
runs ready tasks in order, so the grouping below is deterministic, not timing luck);
each caller returns only once its write is on disk, an error of one write reaches
its caller alone, and a driver error fails the whole group.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from agency_client import ClientSettingError, ClientTuning, DuplicateDocumentError, OutboxError
from agency_client._inbox_store import InboxStore
from agency_client.outbox import Outbox, OutboxState, PackageKind
from bus.records import content_digest

RECIPIENTS = ("000.00.01.H41", "000.00.24.H41")


def _doc(number: int) -> tuple[str, bytes]:
    data = f"<edXML>document {number}</edXML>".encode()
    return f"000.00.00.H41,2026/11/23,{number}/UBND-VP", data


async def test_concurrent_documents_share_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        docs = [_doc(n) for n in range(50)]
        await asyncio.gather(
            *(outbox.keep_document(i, d, content_digest(d), RECIPIENTS) for i, d in docs)
        )
        assert (outbox.group_commit.commits, outbox.group_commit.writes) == (1, 50)
    # On disk: another connection to the file sees every one of them.
    with Outbox(path) as again:
        assert len(again.pending()) == 50
        assert {e.state for e in again.pending()} == {OutboxState.PENDING}


async def test_groups_never_exceed_their_bound(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        outbox.group_commit.max_group = 8
        docs = [_doc(n) for n in range(20)]
        await asyncio.gather(
            *(outbox.keep_document(i, d, content_digest(d), RECIPIENTS) for i, d in docs)
        )
        assert outbox.group_commit.writes == 20
        assert outbox.group_commit.commits == 3  # 8 + 8 + 4
        assert len(outbox.pending()) == 20


async def test_an_error_of_one_write_reaches_its_caller_alone(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        doc_id, data = _doc(1)
        await outbox.keep_document(doc_id, data, content_digest(data), RECIPIENTS)
        other_id, other = _doc(2)
        results = await asyncio.gather(
            outbox.keep_document(doc_id, b"other", content_digest(b"other"), RECIPIENTS),
            outbox.keep_document(other_id, other, content_digest(other), RECIPIENTS),
            return_exceptions=True,
        )
        assert isinstance(results[0], DuplicateDocumentError)
        assert results[1] is None
        kept = outbox.get(doc_id)
        assert kept is not None
        assert kept.data == data
        assert outbox.get(other_id) is not None


async def test_a_driver_error_fails_the_whole_group(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        doc_id, data = _doc(1)

        def broken(conn: object) -> None:
            conn.execute(text("INSERT INTO no_such_table VALUES (1)"))  # type: ignore[attr-defined]

        results = await asyncio.gather(
            outbox.keep_document(doc_id, data, content_digest(data), RECIPIENTS),
            outbox.group_commit.write(broken),
            return_exceptions=True,
        )
        assert all(isinstance(r, OutboxError) for r in results)
        assert outbox.get(doc_id) is None  # nothing of the group was committed
        # The next group is committed as usual.
        await outbox.keep_document(doc_id, data, content_digest(data), RECIPIENTS)
        assert outbox.get(doc_id) is not None


async def test_a_dedup_record_and_its_01_share_one_commit(tmp_path: Path) -> None:
    path = tmp_path / "agency.sqlite"
    with Outbox(path) as outbox, InboxStore(path, group_commit=outbox.group_commit) as store:
        doc_id, data = _doc(7)
        status = b"<edXML>01</edXML>"
        taken, kept = await asyncio.gather(
            store.remember_taken("document", "000.00.00.H41", doc_id, content_digest(data), data),
            outbox.keep_status(doc_id, "01", status, content_digest(status)),
        )
        assert taken is True
        assert kept.kind is PackageKind.STATUS
        assert kept.state is OutboxState.PENDING
        assert outbox.group_commit.commits == 1
        assert store.has_taken("document", "000.00.00.H41", doc_id, content_digest(data))
        # Remembered once: the same bytes again are recognised.
        again = await store.remember_taken(
            "document", "000.00.00.H41", doc_id, content_digest(data), data
        )
        assert again is False


async def test_statuses_noted_together_settle_the_document(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        doc_id, data = _doc(3)
        await outbox.keep_document(doc_id, data, content_digest(data), RECIPIENTS)
        await outbox.note_submitted(PackageKind.DOCUMENT, doc_id, content_digest(data))
        new = await asyncio.gather(
            *(outbox.note_status(doc_id, r, "01", "arrived", f"digest-{r}") for r in RECIPIENTS)
        )
        assert new == [True, True]
        entry = outbox.get(doc_id)
        assert entry is not None
        assert entry.state is OutboxState.DELIVERED
        assert entry.submit_count == 1


def test_tuning_defaults_and_environment() -> None:
    default = ClientTuning()
    assert ClientTuning.from_env({}) == default
    tuned = ClientTuning.from_env({"EDX_CLIENT_LINGER_MS": "3", "EDX_CLIENT_MAX_BATCH": "50"})
    assert (tuned.linger_ms, tuned.max_batch) == (3, 50)
    assert tuned.fetch_max_wait_ms == default.fetch_max_wait_ms


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({"EDX_CLIENT_FETCH_MAX_WAIT_MS": "soon"}, "fetch_max_wait_ms"),
        ({"EDX_CLIENT_MAX_GROUP": "0"}, "max_group"),
        ({"EDX_CLIENT_LINGER_MS": "-1"}, "linger_ms"),
    ],
)
def test_bad_tuning_is_a_named_error(environ: dict[str, str], name: str) -> None:
    with pytest.raises(ClientSettingError) as caught:
        ClientTuning.from_env(environ)
    assert caught.value.name == name
    assert isinstance(caught.value, ValueError)
