"""The router's batch transaction: keys read up front, new packages inserted if absent.

A router's batch reads what the store remembers under all its keys in a few
queries (:meth:`bus.acceptance.AcceptanceSession.preload`) and then inserts
only what is new (``INSERT ... ON CONFLICT DO NOTHING``). These tests hold it to
the one-package-at-a-time answers, on SQLite and PostgreSQL, including when
another router inserts a key between the read and the insert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.acceptance import AcceptanceStore, Accepted
from bus.errors import ReplayError

NOW = datetime(2026, 1, 2, tzinfo=UTC)

_SENDERS = st.sampled_from(["000.00.00.G22", "000.00.00.H41"])
_KEYS = st.sampled_from(["doc-1", "doc-2", "doc-3"])
_DIGESTS = st.sampled_from(["a" * 64, "b" * 64])
_RECIPIENTS = st.lists(st.sampled_from(["000.00.00.H44", "000.00.24.H44"]), min_size=1)
_ACCEPTS = st.lists(st.tuples(_SENDERS, _KEYS, _DIGESTS, _RECIPIENTS), max_size=12)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[AcceptanceStore]:
    with AcceptanceStore(store_url) as opened:
        yield opened


def _answer(outcome: Accepted | ReplayError) -> tuple[object, ...]:
    if isinstance(outcome, ReplayError):
        return ("replay", outcome.reason_code)
    return (outcome.sender, outcome.key, outcome.digest, outcome.recipients, outcome.delivered)


def _one_by_one(
    store: AcceptanceStore, accepts: list[tuple[str, str, str, list[str]]]
) -> list[tuple[object, ...]]:
    answers: list[tuple[object, ...]] = []
    for sender, key, digest, recipients in accepts:
        try:
            answers.append(_answer(store.accept(sender, key, digest, recipients, now=NOW)))
        except ReplayError as error:
            answers.append(_answer(error))
    return answers


def _batched(
    store: AcceptanceStore, accepts: list[tuple[str, str, str, list[str]]]
) -> list[tuple[object, ...]]:
    answers: list[tuple[object, ...]] = []
    with store.session() as session:
        session.preload((sender, key) for sender, key, _, _ in accepts)
        for sender, key, digest, recipients in accepts:
            try:
                answers.append(_answer(session.accept(sender, key, digest, recipients, now=NOW)))
            except ReplayError as error:
                answers.append(_answer(error))
    return answers


@settings(max_examples=40, deadline=None)
@given(before=_ACCEPTS, batch=_ACCEPTS)
def test_a_preloaded_batch_answers_as_one_package_at_a_time(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[tuple[str, str, str, list[str]]],
    batch: list[tuple[str, str, str, list[str]]],
) -> None:
    directory = tmp_path_factory.mktemp("stores")
    with (
        AcceptanceStore(f"sqlite:///{directory / 'single.db'}") as single,
        AcceptanceStore(f"sqlite:///{directory / 'batched.db'}") as batched,
    ):
        _one_by_one(single, before)
        _one_by_one(batched, before)
        assert _batched(batched, batch) == _one_by_one(single, batch)
        assert batched.count() == single.count()


def test_a_key_taken_by_another_router_after_the_preload_is_a_retry_or_a_replay(
    store: AcceptanceStore,
) -> None:
    sender, recipients = "000.00.00.G22", ["000.00.00.H41"]
    with store.session() as session:
        session.preload([(sender, "doc-1"), (sender, "doc-2")])
        # Another router of the group accepts both keys meanwhile, in its own transaction.
        other = AcceptanceStore(store.url)
        with other:
            other.accept(sender, "doc-1", "a" * 64, recipients, now=NOW)
            other.accept(sender, "doc-2", "a" * 64, recipients, now=NOW)
        retry = session.accept(sender, "doc-1", "a" * 64, recipients, now=NOW)
        with pytest.raises(ReplayError):
            session.accept(sender, "doc-2", "b" * 64, recipients, now=NOW)
    assert retry.digest == "a" * 64
    assert store.count() == 2


def test_what_a_session_accepted_is_what_its_later_lookups_see(store: AcceptanceStore) -> None:
    sender = "000.00.00.G22"
    with store.session() as session:
        session.preload([(sender, "doc-1")])
        assert session.lookup(sender, "doc-1") is None
        accepted = session.accept(sender, "doc-1", "a" * 64, ["000.00.00.H41"], now=NOW)
        assert session.lookup(sender, "doc-1") == accepted
    assert store.lookup(sender, "doc-1") == accepted
