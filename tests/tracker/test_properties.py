"""Properties of ingest: however the records are batched and however often they are
delivered again (at-least-once), the tracker ends in the same state; the placement of
any four-group code agrees with edxml's agency codes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bus.store import create_store_engine, ingest, place, upgrade
from bus.store.schema import deliveries, documents, history
from edxml import AgencyCode
from tests.tracker.factory import EventLog, province_directive

_LOG = EventLog()
_LOG.add(*province_directive())
_RECORDS = _LOG.records


def _state(url: str) -> tuple[object, ...]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            tables = [
                tuple(
                    tuple(row)
                    for row in connection.execute(select(table).order_by(*table.primary_key))
                )
                for table in (documents, deliveries)
            ]
            chain = tuple(
                tuple(row)
                for row in connection.execute(
                    select(
                        history.c.document_id,
                        history.c.sequence,
                        history.c.event_id,
                        history.c.row_hash,
                    ).order_by(history.c.document_id, history.c.sequence)
                )
            )
            return (*tables, chain)
    finally:
        engine.dispose()


def _ingest_all(url: str, batches: list[list[int]]) -> tuple[object, ...]:
    upgrade(url)
    engine = create_store_engine(url)
    try:
        for batch in batches:
            ingest(engine, [_RECORDS[i] for i in batch], group="g")
    finally:
        engine.dispose()
    return _state(url)


_REFERENCE: dict[str, tuple[object, ...]] = {}


def _reference() -> tuple[object, ...]:
    if "state" not in _REFERENCE:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'ref.db'}"
            _REFERENCE["state"] = _ingest_all(url, [list(range(len(_RECORDS)))])
    return _REFERENCE["state"]


@st.composite
def redeliveries(draw: st.DrawFn) -> list[list[int]]:
    """Batches in log order, where each batch may start again from an earlier offset
    (a consumer that re-reads after a crash or a rebalance)."""
    batches: list[list[int]] = []
    position = 0
    while position < len(_RECORDS):
        start = draw(st.integers(max(0, position - 10), position))
        size = draw(st.integers(1, 25))
        end = min(len(_RECORDS), max(start + size, position + 1))
        batches.append(list(range(start, end)))
        position = end
    return batches


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(redeliveries())
def test_any_batching_and_redelivery_gives_the_same_state(batches: list[list[int]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'tracker.db'}"
        assert _ingest_all(url, batches) == _reference()


_GROUP3 = st.integers(0, 999).map(lambda n: f"{n:03d}")
_GROUP2 = st.integers(0, 99).map(lambda n: f"{n:02d}")
_UNIT = st.tuples(st.sampled_from("GHKX"), st.integers(0, 99)).map(lambda t: f"{t[0]}{t[1]:02d}")


@settings(max_examples=100)
@given(_GROUP3, _GROUP2, _GROUP2, _UNIT)
def test_placement_agrees_with_agency_codes(g1: str, g2: str, g3: str, unit: str) -> None:
    code = f"{g1}.{g2}.{g3}.{unit}"
    placement = place(code)
    agency = AgencyCode.parse(code)
    assert placement is not None
    assert placement.level == agency.level
    assert placement.parent == (str(agency.parent) if agency.parent else None)
    for ancestor in agency.ancestors:
        above = place(str(ancestor))
        assert above is not None
        assert above.contains(placement)
        assert not placement.contains(above)
