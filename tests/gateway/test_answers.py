"""Answers to writes are kept for a repeat of the same request, and expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from bus import Settings
from bus.errors import ConfigError
from gateway import GatewayConfig, open_gateway_engine
from gateway.answers import DEFAULT_ANSWERS_KEPT_FOR, KeptAnswers
from gateway.errors import ConflictError
from gateway.store.schema import IDEMPOTENCY

_SYSTEM = "vp.tinh"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_gateway_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _age(engine: Engine, key: str, by: timedelta) -> None:
    """Make the answer under ``key`` look ``by`` older than it is."""
    with engine.begin() as conn:
        written = conn.execute(
            select(IDEMPOTENCY.c.created_at).where(IDEMPOTENCY.c.key == key)
        ).scalar_one()
        conn.execute(
            update(IDEMPOTENCY).where(IDEMPOTENCY.c.key == key).values(created_at=written - by)
        )


def _kept(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(IDEMPOTENCY)).scalar_one())


def test_a_repeat_gets_the_first_answer_and_another_request_is_a_conflict(engine: Engine) -> None:
    answers = KeptAnswers(engine)
    assert answers.earlier(_SYSTEM, "send", "k1", "fp-a") is None
    assert answers.remember(_SYSTEM, "send", "k1", "fp-a", '{"doc": 1}') == '{"doc": 1}'
    assert answers.earlier(_SYSTEM, "send", "k1", "fp-a") == '{"doc": 1}'
    # a concurrent repeat that lost the race gets the answer stored first
    assert answers.remember(_SYSTEM, "send", "k1", "fp-a", '{"doc": 2}') == '{"doc": 1}'
    with pytest.raises(ConflictError, match="k1"):
        answers.earlier(_SYSTEM, "send", "k1", "fp-b")
    # the same key in another scope, or of another system, is another request
    assert answers.earlier(_SYSTEM, "ack", "k1", "fp-b") is None
    assert answers.earlier("vp.huyen", "send", "k1", "fp-b") is None


def test_an_expired_answer_is_forgotten_and_deleted(engine: Engine) -> None:
    answers = KeptAnswers(engine, kept_for=timedelta(days=7))
    answers.remember(_SYSTEM, "send", "old", "fp-a", '{"doc": 1}')
    answers.remember(_SYSTEM, "send", "young", "fp-a", '{"doc": 2}')
    _age(engine, "old", timedelta(days=7, minutes=1))
    _age(engine, "young", timedelta(days=6, hours=23))

    assert answers.earlier(_SYSTEM, "send", "old", "fp-b") is None  # no conflict any more
    assert answers.earlier(_SYSTEM, "send", "young", "fp-a") == '{"doc": 2}'
    assert _kept(engine) == 2  # reading deletes nothing

    # the next answer written deletes the expired one, so its key can be used again
    assert answers.remember(_SYSTEM, "send", "old", "fp-b", '{"doc": 3}') == '{"doc": 3}'
    assert answers.earlier(_SYSTEM, "send", "old", "fp-b") == '{"doc": 3}'
    assert answers.earlier(_SYSTEM, "send", "young", "fp-a") == '{"doc": 2}'
    assert _kept(engine) == 2


def test_answers_must_be_kept_for_a_positive_time(engine: Engine) -> None:
    with pytest.raises(ValueError, match="positive"):
        KeptAnswers(engine, kept_for=timedelta(0))


def test_the_gateway_configuration_names_how_long_answers_are_kept() -> None:
    settings = Settings()
    assert GatewayConfig.from_settings(settings, {}).answers_kept_for == DEFAULT_ANSWERS_KEPT_FOR
    configured = GatewayConfig.from_settings(settings, {"EDX_GATEWAY_ANSWER_DAYS": "1.5"})
    assert configured.answers_kept_for == timedelta(days=1, hours=12)


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("EDX_GATEWAY_ANSWER_DAYS", "a week", "is not a number"),
        ("EDX_GATEWAY_ANSWER_DAYS", "0", "must be above 0"),
        ("EDX_GATEWAY_BURST", "-1", "must be at least 0"),
        ("EDX_GATEWAY_MAX_UPLOAD", "2.5", "is not a number"),
    ],
)
def test_a_gateway_variable_that_is_not_a_usable_number_is_named(
    variable: str, value: str, why: str
) -> None:
    with pytest.raises(ConfigError, match=f"{variable}=.*{why}"):
        GatewayConfig.from_settings(Settings(), {variable: value})
