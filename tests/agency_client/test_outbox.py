"""The outbox on a real SQLite file: durable, idempotent, and honest about delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agency_client import DuplicateDocumentError, OutboxError
from agency_client.outbox import Outbox, OutboxState, PackageKind
from bus.records import content_digest

DOC = "000.00.00.H41,2026/11/23,12/UBND-VP"
DATA = b"<edXML>signed bytes</edXML>"
RECIPIENTS = ("000.00.01.H41", "000.00.24.H41", "000.46.24.H41")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Outbox:
    with Outbox(tmp_path / "outbox.sqlite", clock=clock) as box:
        yield box


def test_a_document_is_pending_until_every_recipient_arrived(outbox: Outbox) -> None:
    entry = outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    assert entry.state is OutboxState.PENDING
    assert entry.missing == tuple(sorted(RECIPIENTS))
    assert entry.submit_count == 0

    for i, recipient in enumerate(RECIPIENTS):
        assert outbox.record_status(DOC, recipient, "01", "arrived", f"d{i}")
        entry = outbox.get(DOC)
        assert entry is not None
        expected = OutboxState.DELIVERED if i == len(RECIPIENTS) - 1 else OutboxState.PENDING
        assert entry.state is expected
    assert entry.missing == ()
    assert [s.recipient for s in outbox.statuses(DOC)] == list(RECIPIENTS)


def test_a_later_status_counts_as_arrival_when_its_01_was_lost(outbox: Outbox) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS[:1])
    outbox.record_status(DOC, RECIPIENTS[0], "03", "registered", "d3")
    entry = outbox.get(DOC)
    assert entry is not None
    assert entry.state is OutboxState.DELIVERED


def test_the_same_status_twice_is_recorded_once(outbox: Outbox) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    assert outbox.record_status(DOC, RECIPIENTS[0], "01", "arrived", "same")
    assert not outbox.record_status(DOC, RECIPIENTS[0], "01", "arrived", "same")
    assert len(outbox.statuses(DOC)) == 1


def test_adding_the_same_bytes_again_is_idempotent(outbox: Outbox) -> None:
    first = outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    again = outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    assert again == first
    assert len(outbox.pending()) == 1


def test_other_bytes_under_a_document_id_already_kept_are_refused(outbox: Outbox) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    other = DATA + b" "
    with pytest.raises(DuplicateDocumentError) as caught:
        outbox.add_document(DOC, other, content_digest(other), RECIPIENTS)
    assert caught.value.document_id == DOC
    assert caught.value.reason_code == "duplicate-document-id"
    stored = outbox.get(DOC)
    assert stored is not None
    assert stored.data == DATA


def test_resubmission_is_due_after_the_silence(outbox: Outbox, clock: FakeClock) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    silence = timedelta(seconds=300)
    # Never published: due at once (a crash between the outbox write and the publish).
    assert [e.document_id for e in outbox.due_for_resubmit(silence)] == [DOC]
    outbox.mark_submitted(PackageKind.DOCUMENT, DOC, content_digest(DATA))
    assert outbox.due_for_resubmit(silence) == []
    clock.advance(299)
    assert outbox.due_for_resubmit(silence) == []
    clock.advance(2)
    due = outbox.due_for_resubmit(silence)
    assert [e.data for e in due] == [DATA]
    assert due[0].submit_count == 1
    for recipient in RECIPIENTS:
        outbox.record_status(DOC, recipient, "01", "", recipient)
    assert outbox.due_for_resubmit(silence) == []


def test_a_rejection_stops_resubmission_and_keeps_the_reason(
    outbox: Outbox, clock: FakeClock
) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
    outbox.mark_submitted(PackageKind.DOCUMENT, DOC, content_digest(DATA))
    entry = outbox.mark_rejected(DOC, content_digest(DATA), "unknown-agency", "no such agency")
    assert entry is not None
    assert entry.state is OutboxState.REJECTED
    assert (entry.reason_code, entry.reason) == ("unknown-agency", "no such agency")
    clock.advance(10_000)
    assert outbox.due_for_resubmit(timedelta(seconds=1)) == []
    assert outbox.mark_rejected(DOC, "f" * 64, "x", "y") is None


def test_status_packages_are_kept_and_published_once(outbox: Outbox) -> None:
    status = b"<edXML>status 03</edXML>"
    digest = content_digest(status)
    entry = outbox.add_status(DOC, "03", status, digest)
    assert entry.kind is PackageKind.STATUS
    assert entry.state is OutboxState.PENDING
    assert [e.digest for e in outbox.due_for_resubmit(timedelta(seconds=300))] == [digest]
    outbox.mark_submitted(PackageKind.STATUS, DOC, digest)
    (sent,) = outbox.sent_statuses(DOC)
    assert sent.state is OutboxState.PUBLISHED
    assert sent.status_code == "03"
    assert outbox.due_for_resubmit(timedelta(seconds=0)) == []


def test_the_outbox_survives_reopening(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "agency" / "outbox.sqlite"
    with Outbox(path, clock=clock) as box:
        box.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS)
        box.record_status(DOC, RECIPIENTS[0], "01", "", "a")
    with Outbox(path, clock=clock) as box:
        (entry,) = box.pending()
        assert entry.data == DATA
        assert entry.arrived == frozenset({RECIPIENTS[0]})
        assert entry.created_at == clock.now


def test_an_unusable_path_is_a_named_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutboxError):
        Outbox(blocker / "outbox.sqlite")


def test_settled_packages_can_be_forgotten_pending_ones_never(
    outbox: Outbox, clock: FakeClock
) -> None:
    outbox.add_document(DOC, DATA, content_digest(DATA), RECIPIENTS[:1])
    outbox.record_status(DOC, RECIPIENTS[0], "01", "", "a")
    waiting = "000.00.00.H41,2026/11/23,13/UBND-VP"
    outbox.add_document(waiting, b"other", content_digest(b"other"), RECIPIENTS[:1])
    clock.advance(3600)
    assert outbox.forget_settled(timedelta(hours=2)) == 0
    clock.advance(3 * 3600)
    assert outbox.forget_settled(timedelta(hours=2)) == 1
    assert outbox.get(DOC) is None
    assert outbox.statuses(DOC) == []
    assert [e.document_id for e in outbox.pending()] == [waiting]
