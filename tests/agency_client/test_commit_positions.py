"""The inbox never commits past a package the application has not taken."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agency_client.inbox import _Partition


@settings(max_examples=100, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=30),
    data=st.data(),
)
def test_the_committed_offset_stays_below_every_unsettled_record(count: int, data) -> None:
    part = _Partition()
    for offset in range(count):
        part.add(offset)
    settled: set[int] = set()
    committed = 0
    order = data.draw(st.permutations(range(count)))
    for offset in order:
        part.done(offset)
        settled.add(offset)
        position = part.committable()
        if position is not None:
            assert position > committed or position == committed
            committed = position
            part.committed = position
        # Everything below the commit position is settled, the record at it is not.
        assert set(range(committed)) <= settled
        assert committed == count or committed not in settled
    assert committed == count


def test_a_position_is_committed_once_and_never_past_an_unsettled_record() -> None:
    part = _Partition()
    part.add(7)
    assert part.committable() == 7  # "read again from 7": the record is not taken yet
    part.committed = 7
    assert part.committable() is None
    part.done(7)
    assert part.committable() == 8
    part.committed = 8
    assert part.committable() is None
