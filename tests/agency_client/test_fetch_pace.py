"""The inbox's fetch wait: the busy wait after reading or publishing, the idle wait once
``idle_after_ms`` passed without either (a fake clock: nothing here waits)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agency_client._fetch_pace import FetchPace
from agency_client.errors import ClientSettingError
from agency_client.tuning import ClientTuning


@dataclass
class _Fetcher:
    _fetch_max_wait_ms: int


@dataclass
class _Consumer:
    _fetcher: _Fetcher = field(default_factory=lambda: _Fetcher(5))


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _paced(tuning: ClientTuning) -> tuple[FetchPace, _Consumer, _Clock]:
    clock = _Clock()
    pace = FetchPace(tuning, clock)
    consumer = _Consumer(_Fetcher(tuning.fetch_max_wait_ms))
    pace.attach(consumer)
    return pace, consumer, clock


def test_a_client_starts_idle_and_is_busy_after_reading_or_publishing() -> None:
    tuning = ClientTuning(fetch_max_wait_ms=5, idle_fetch_max_wait_ms=20, idle_after_ms=2000)
    pace, consumer, clock = _paced(tuning)
    assert consumer._fetcher._fetch_max_wait_ms == 20
    pace.busy()
    assert consumer._fetcher._fetch_max_wait_ms == 5
    clock.now += 1.999
    pace.update()
    assert consumer._fetcher._fetch_max_wait_ms == 5
    clock.now += 0.001
    pace.update()
    assert consumer._fetcher._fetch_max_wait_ms == 20


def test_the_idle_wait_is_never_below_the_busy_one() -> None:
    # A client tuned for Apache Kafka (500 ms) keeps 500 ms when idle too.
    pace, consumer, _ = _paced(ClientTuning(fetch_max_wait_ms=500, idle_fetch_max_wait_ms=20))
    assert consumer._fetcher._fetch_max_wait_ms == 500
    pace.busy()
    assert consumer._fetcher._fetch_max_wait_ms == 500


def test_a_consumer_without_the_attribute_keeps_its_configured_wait() -> None:
    pace = FetchPace(ClientTuning(), _Clock())
    pace.attach(object())  # another aiokafka, a test double: nothing to set, no error
    pace.busy()
    pace.update()
    assert pace.wait_ms() == ClientTuning().fetch_max_wait_ms


@given(
    busy=st.integers(0, 1000),
    idle=st.integers(0, 1000),
    after=st.integers(0, 10_000),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 5000)), max_size=30),
)
def test_the_wait_follows_the_last_busy_moment(
    busy: int, idle: int, after: int, steps: list[tuple[bool, int]]
) -> None:
    """Differential: the consumer's wait always equals a direct reading of the rule."""
    pace, consumer, clock = _paced(
        ClientTuning(fetch_max_wait_ms=busy, idle_fetch_max_wait_ms=idle, idle_after_ms=after)
    )
    last: float | None = None
    for was_busy, elapsed_ms in steps:
        clock.now += elapsed_ms / 1000
        if was_busy:
            pace.busy()
            last = clock.now
        else:
            pace.update()
        recent = last is not None and clock.now - last < after / 1000
        assert consumer._fetcher._fetch_max_wait_ms == (busy if recent else max(idle, busy))


@pytest.mark.parametrize("name", ["idle_fetch_max_wait_ms", "idle_after_ms"])
def test_the_idle_knobs_come_from_the_environment(name: str) -> None:
    variable = f"EDX_CLIENT_{name.upper()}"
    assert getattr(ClientTuning.from_env({variable: "7"}), name) == 7
    with pytest.raises(ClientSettingError) as caught:
        ClientTuning.from_env({variable: "-1"})
    assert caught.value.name == name
