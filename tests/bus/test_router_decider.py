"""The router's decisions alone: an acceptance store on SQLite, a directory in memory.

No broker and no signatures: :class:`bus.router.decider.Decider` is handed
checked packages (as the checker would) and says, against what the store
remembers, whether each is new, a retry or a replay, and where a status may go.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.acceptance import AcceptanceStore, Accepted, Delivery
from bus.directory import Agency, AgencyDirectory
from bus.records import content_digest
from bus.router.checker import CheckedPackage, Refused
from bus.router.decider import Decider, Decision
from edxml import DocumentPackage, StatusCode, StatusPackage, build
from edxml.errors import MalformedXmlError
from tests.bus.routing_helpers import document, status

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
OTHER = "000.00.00.H44"
STRANGER = "000.00.24.H44"


class _Copies:
    """Recorded inbox copies, as present or as lost as the test says."""

    def __init__(self, in_place: bool = True) -> None:
        self.present = in_place
        self.asked: list[str] = []

    async def in_place(self, accepted: Accepted) -> bool:
        self.asked.append(accepted.key)
        return self.present


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AcceptanceStore]:
    with AcceptanceStore(f"sqlite:///{tmp_path / 'router.db'}") as opened:
        yield opened


@pytest.fixture
def copies() -> _Copies:
    return _Copies()


@pytest.fixture
def decider(store: AcceptanceStore, copies: _Copies) -> Decider:
    directory = AgencyDirectory(Agency.new(c, c) for c in (SENDER, RECIPIENT, OTHER, STRANGER))
    return Decider(store, lambda: directory, copies)


def _checked(package: DocumentPackage | StatusPackage, raw: bytes | None = None) -> CheckedPackage:
    """What the checker makes of a package signed by its sender (the bytes stand in)."""
    data = raw if raw is not None else build(package)
    return CheckedPackage(package, package.sender_code, "f" * 64, content_digest(data), data)


def _reason(decision: Decision) -> str:
    assert decision is not None
    assert not isinstance(decision, Accepted), decision
    return decision.reason_code


def test_a_new_document_is_accepted_for_every_recipient(decider: Decider) -> None:
    package = document(SENDER, [RECIPIENT, OTHER])
    (accepted,) = decider.decide_all([_checked(package)])
    assert isinstance(accepted, Accepted)
    assert (accepted.sender, accepted.key) == (SENDER, package.document_id)
    assert accepted.undelivered == (RECIPIENT, OTHER)


def test_a_retry_goes_to_whoever_lacks_it_and_other_bytes_are_a_replay(
    decider: Decider, store: AcceptanceStore
) -> None:
    package = document(SENDER, [RECIPIENT, OTHER])
    checked = _checked(package)
    (first,) = decider.decide_all([checked])
    assert isinstance(first, Accepted)
    now = datetime.now(UTC)
    decider.record_delivered([Delivery(SENDER, first.key, RECIPIENT, 0, 7)], now=now)
    replay = _checked(package, build(package) + b"<!-- other bytes -->")
    retry, refused = decider.decide_all([checked, replay])
    assert isinstance(retry, Accepted)
    assert retry.undelivered == (OTHER,)
    assert retry.positions == {RECIPIENT: (0, 7)}
    assert _reason(refused) == "replay"


def test_one_batch_is_decided_in_order(decider: Decider) -> None:
    # The same document twice in one batch: the second meets the first's row.
    package = document(SENDER, [RECIPIENT])
    first, second = decider.decide_all([_checked(package), _checked(package)])
    assert isinstance(first, Accepted)
    assert isinstance(second, Accepted)
    assert first.key == second.key


def test_records_the_checks_refused_get_no_decision(decider: Decider) -> None:
    refused = Refused(MalformedXmlError("not a package"))
    package = document(SENDER, [RECIPIENT])
    decisions = decider.decide_all([refused, _checked(package)])
    assert decisions[0] is None
    assert isinstance(decisions[1], Accepted)


def test_statuses_go_to_the_original_sender_only_from_its_recipients(decider: Decider) -> None:
    package = document(SENDER, [RECIPIENT, OTHER])
    arrived = status(RECIPIENT, package, StatusCode.ARRIVED)
    nosy = status(STRANGER, package, StatusCode.ARRIVED)
    take_back = status(SENDER, package, StatusCode.TAKE_BACK)
    wrong_take_back = status(OTHER, package, StatusCode.TAKE_BACK)
    never_sent = status(RECIPIENT, document(SENDER, [RECIPIENT]), StatusCode.ARRIVED)
    decisions = decider.decide_all(
        [_checked(p) for p in (package, arrived, nosy, take_back, wrong_take_back, never_sent)]
    )
    to_sender, to_recipients = decisions[1], decisions[3]
    assert isinstance(to_sender, Accepted)
    assert to_sender.recipients == (SENDER,)
    assert isinstance(to_recipients, Accepted)
    assert to_recipients.recipients == (RECIPIENT, OTHER)
    assert [_reason(d) for d in (decisions[2], decisions[4], decisions[5])] == [
        "unauthorized-status"
    ] * 3


async def test_a_retry_of_bytes_every_recipient_has_is_settled_by_its_digest(
    decider: Decider, copies: _Copies
) -> None:
    delivered = build(document(SENDER, [RECIPIENT]))
    pending = build(document(SENDER, [RECIPIENT, OTHER]))
    unseen = build(document(SENDER, [RECIPIENT]))
    for data, recipients in ((delivered, [RECIPIENT]), (pending, [RECIPIENT])):
        package = document(SENDER, [RECIPIENT])
        checked = CheckedPackage(package, SENDER, "f" * 64, content_digest(data), data)
        (accepted,) = decider.decide_all([checked])
        assert isinstance(accepted, Accepted)
        if data is delivered:
            decider.record_delivered(
                [Delivery(SENDER, accepted.key, r, 0, 1) for r in recipients],
                now=datetime.now(UTC),
            )
    settled = await decider.settled([delivered, pending, unseen, None, delivered])
    assert settled == [True, False, False, False, True]
    assert len(copies.asked) == 1  # the same bytes twice in a batch: read back once
    copies.present = False  # the broker lost the copy: the retry writes it again
    assert await decider.settled([delivered]) == [False]


def test_the_store_is_pruned_now_and_then(store: AcceptanceStore, copies: _Copies) -> None:
    decider = Decider(store, AgencyDirectory, copies, prune_every=3)
    package = document(SENDER, [RECIPIENT])
    decider.decide_all([_checked(package)])
    far = datetime(2999, 1, 1, tzinfo=UTC)  # everything is past the horizon by then
    decider.handled(2, now=far)
    assert store.count() == 1
    decider.handled(1, now=far)
    assert store.count() == 0
