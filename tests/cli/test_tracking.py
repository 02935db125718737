"""edx status, track and trail on the province scenario: exact counts, JSON, exit codes,
and one clear line (never a traceback) when something is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from bus.store import create_store_engine, ingest, upgrade
from bus.store.schema import history
from cli.main import cli
from tests.tracker.factory import (
    COMMUNES_L3,
    COMMUNES_L4,
    DEPARTMENTS,
    DIRECTIVE,
    DISTRICTS,
    EventLog,
    province_directive,
)

AS_OF = "2026-03-20"


def track_province_directive(db_url: str) -> str:
    """A tracker database at ``db_url`` that recorded the province directive."""
    upgrade(db_url)
    engine = create_store_engine(db_url)
    try:
        log = EventLog()
        log.add(*province_directive())
        ingest(engine, log.records, group="edx-tracker")
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def scenario_db(db_url: str) -> str:
    return track_province_directive(db_url)


def edx(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_status_table_and_totals(scenario_db: str) -> None:
    result = edx("status", DIRECTIVE, "--db-url", scenario_db, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"document   {DIRECTIVE}"
    row = next(line for line in lines if line.startswith(DEPARTMENTS[7]))
    assert "refused" in row
    late = next(line for line in lines if line.startswith(COMMUNES_L4[-1]))
    assert "delivered, no status yet (late)" in late
    assert lines[-1] == "26 recipients: delivered 2, 01 14, 02 2, 03 4, 06 4, overdue 20"


def test_status_json(scenario_db: str) -> None:
    result = edx("status", DIRECTIVE, "--db-url", scenario_db, "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"] == {"delivered": 2, "01": 14, "02": 2, "03": 4, "06": 4, "overdue": 20}
    first = data["recipients"][0]
    assert first["recipient"] == DEPARTMENTS[0]
    assert first["level"] == 2
    assert first["status"] == "06"
    assert sorted(first["steps"]) == ["01", "03", "06"]
    assert data["due_date"] == "2026-03-10"


def _track(db: str, *args: str) -> list[dict[str, object]]:
    result = edx("track", "--db-url", db, "--as-of", AS_OF, "--json", *args)
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output))


def test_track_under_counts_the_subtree(scenario_db: str) -> None:
    [doc] = _track(scenario_db, "--under", DISTRICTS[0])
    assert doc["total"] == {
        "recipients": 12,
        "delivered": 12,
        "arrived": 10,
        "accepted": 4,
        "completed": 1,
        "refused": 1,
        "overdue": 10,
    }
    assert [(c["level"], c["recipients"]) for c in doc["levels"]] == [(2, 1), (3, 5), (4, 6)]
    [commune] = _track(scenario_db, "--under", COMMUNES_L3[0])
    assert commune["total"]["recipients"] == 7


def test_track_overdue_counts_late_recipients(scenario_db: str) -> None:
    [doc] = _track(scenario_db, "--overdue")
    assert [(c["level"], c["overdue"]) for c in doc["levels"]] == [(2, 7), (3, 8), (4, 5)]
    assert doc["total"]["overdue"] == 20
    assert _track(scenario_db, "--overdue", "--as-of", "2026-03-10") == []


def test_track_table(scenario_db: str) -> None:
    result = edx("track", "--db-url", scenario_db, "--as-of", AS_OF, "--level", "4")
    assert result.exit_code == 0, result.output
    assert DIRECTIVE in result.output
    assert "level 4" in result.output
    assert result.output.rstrip().endswith("1 document(s)")


def test_trail_shows_the_history_and_exits_3_when_the_chain_is_broken(
    scenario_db: str,
) -> None:
    result = edx("trail", DIRECTIVE, "--db-url", scenario_db)
    assert result.exit_code == 0, result.output
    assert "hash chain intact: 65 step(s)" in result.output
    assert "edx.events/0/0" in result.output  # Kafka coordinates of each step
    engine = create_store_engine(scenario_db)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(history).where(history.c.sequence == 30).values(actor=DEPARTMENTS[1])
            )
    finally:
        engine.dispose()
    broken = edx("trail", DIRECTIVE, "--db-url", scenario_db, "--json")
    assert broken.exit_code == 3
    data = json.loads(broken.output)
    assert data["chain"]["intact"] is False
    assert data["chain"]["broken_at"] == 30


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["status", "000.00.00.H99,2026/01/01,1/X"], "unknown-document"),
        (["track", "--under", "vxp.saas.03"], "invalid-agency-code"),
        (["track", "--status", "99"], "invalid-code"),
        (["trail"], "give DOCUMENT_ID"),
    ],
)
def test_bad_requests_get_one_clear_line(scenario_db: str, args: list[str], expected: str) -> None:
    result = edx(*args, "--db-url", scenario_db)
    assert result.exit_code in {1, 2}
    assert expected in result.output
    assert "Traceback" not in result.output


def test_a_missing_database_is_one_clear_line(tmp_path: Path) -> None:
    result = edx("status", DIRECTIVE, "--home", str(tmp_path))
    assert result.exit_code == 1
    assert "does not exist (is the tracker running?)" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "tracker.db").exists()
