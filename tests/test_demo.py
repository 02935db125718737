"""`edx demo` end to end: a fresh directory, the real CLI, its own embedded bus.

The demo is the README's first command; this runs it exactly as a newcomer would
(a subprocess in an empty directory, no settings but a free broker port so it
does not collide with other tests) and checks what it leaves behind: the
tracker's final counts per document and level, and that the clerk commands work
on that state afterwards, with no bus running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agency_client
from bus.embedded import RUNTIME_FILE
from bus.store import TrackFilter, create_store_engine, document_status, track
from demo import ScenarioError, load_scenario
from tests.fixtures.demo import clean_env, run_edx, shared_demo_run

SCENARIO = load_scenario()


# --- the scenario, as data ------------------------------------------------------------


def test_the_scenario_holds_together() -> None:
    assert len(SCENARIO.agencies) == 14
    assert [label for r in SCENARIO.rounds for label in r.documents] == list(SCENARIO.documents)
    directive = SCENARIO.document("directive")
    assert directive.final_statuses["000.02.32.H41"] == "02"  # Bến Thủy refuses
    assert directive.final_statuses["000.00.33.H41"] == "04"  # Nghi Lộc is late
    assert SCENARIO.document("revocation").revokes == "notice"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (('label = "reply"', 'label = "replies"'), "played in exactly one round"),
        (('sender = "000.00.32.H41"', 'sender = "000.00.99.H41"'), "unknown agencies"),
        (('revokes = "notice"', 'revokes = "nothing"'), "revokes unknown"),
        (('label = "directive"', 'label = "directive'), "not valid"),
    ],
)
def test_a_broken_scenario_is_a_named_error(change: tuple[str, str], why: str) -> None:
    text = (Path(__file__).parents[1] / "demo" / "scenario.toml").read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(ScenarioError, match=why):
        load_scenario(text.replace(change[0], change[1], 1))


def test_the_sdk_does_not_carry_the_demo() -> None:
    assert not {"run_demo", "register_agencies", "DemoResult"} & set(agency_client.__all__)


# --- edx demo on its own bus ----------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`edx demo` run once in an empty directory: (directory, output)."""
    run = shared_demo_run(tmp_path_factory)
    return run.workdir, run.output


@pytest.mark.kafka
@pytest.mark.slow
def test_demo_finishes_well_under_a_minute_and_says_what_it_did(
    demo_run: tuple[Path, str],
) -> None:
    _, output = demo_run
    assert "demo run 1: 5 documents exchanged and tracked" in output
    seconds = float(output.split(" tracked in ")[1].split("s;")[0])
    assert seconds < 50, output
    assert "Traceback" not in output


@pytest.mark.kafka
@pytest.mark.slow
def test_demo_leaves_its_state_under_dot_edx_and_stops_its_bus(
    demo_run: tuple[Path, str],
) -> None:
    workdir, _ = demo_run
    home = workdir / ".edx"
    assert (home / "tracker.db").is_file()
    assert (home / "pki" / "root" / "cert.pem").is_file()
    for agency in SCENARIO.agencies:
        assert (home / "pki" / "agencies" / agency.code / "cert.pem").is_file(), agency.code
    assert (home / "outbox").is_dir()
    assert not (home / RUNTIME_FILE).exists(), "the demo's own bus must be stopped"


@pytest.mark.kafka
@pytest.mark.slow
def test_tracker_holds_the_exact_final_counts(demo_run: tuple[Path, str]) -> None:
    workdir, _ = demo_run
    engine = create_store_engine(f"sqlite:///{workdir / '.edx' / 'tracker.db'}", must_exist=True)
    try:
        documents = track(engine)
        assert len(documents) == 5
        directive = next(d for d in documents if d.sender == "000.00.00.H41")
        # 8 recipients: 4 at level 2 (departments, districts), 3 communes, 1 clinic.
        assert {lv.level: lv.recipients for lv in directive.levels} == {2: 4, 3: 3, 4: 1}
        assert directive.total.recipients == len(SCENARIO.document("directive").answers) == 8
        assert directive.total.delivered == 8
        assert directive.total.completed == 6
        assert directive.total.refused == 1
        assert directive.total.overdue == 1

        status = document_status(engine, directive.document_id)
        current = {r.recipient: r.status for r in status.recipients}
        assert current["000.02.32.H41"] == "02"  # Bến Thủy refused ...
        refusal = next(r for r in status.recipients if r.recipient == "000.02.32.H41")
        assert refusal.description
        assert "thẩm quyền" in refusal.description
        late = [r.recipient for r in status.recipients if r.overdue]
        assert late == ["000.00.33.H41"]  # Nghi Lộc stopped at 04 past the due date

        under_province = track(engine, TrackFilter(under="000.00.00.H41", level=3))
        assert sum(d.total.recipients for d in under_province) == 3
        overdue = track(engine, TrackFilter(overdue=True))
        assert [d.document_id for d in overdue] == [directive.document_id]
    finally:
        engine.dispose()


@pytest.mark.kafka
@pytest.mark.slow
def test_clerk_commands_work_on_the_state_afterwards(demo_run: tuple[Path, str]) -> None:
    workdir, _ = demo_run
    env = clean_env()
    listed = run_edx("track", "--json", cwd=workdir, env=env)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) >= 5
    engine = create_store_engine(f"sqlite:///{workdir / '.edx' / 'tracker.db'}", must_exist=True)
    try:
        directive = next(d for d in track(engine) if d.sender == "000.00.00.H41")
    finally:
        engine.dispose()
    for command in ("status", "trail"):
        shown = run_edx(command, directive.document_id, cwd=workdir, env=env)
        assert shown.returncode == 0, (command, shown.stderr)
        assert "000.00.33.H41" in shown.stdout or command == "trail", shown.stdout
