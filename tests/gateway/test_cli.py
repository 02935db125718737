"""`edx gateway system ...` as a clerk runs it: one line per answer, secrets never shown."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.demo import clean_env, run_edx


def test_systems_from_the_command_line(tmp_path: Path) -> None:
    env = clean_env(EDX_HOME=str(tmp_path / "home"))
    secret = tmp_path / "system.secret"
    secret.write_text("a-long-secret-value\n")
    added = run_edx(
        "gateway",
        "system",
        "add",
        "vp.tinh",
        "--agency",
        "000.00.00.H44",
        "--agency",
        "000.01.00.H44",
        "--secret-file",
        str(secret),
        cwd=tmp_path,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "system vp.tinh acts for 000.00.00.H44, 000.01.00.H44"

    listed = run_edx("gateway", "system", "list", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "system_id": "vp.tinh",
            "may_register": False,
            "agencies": ["000.00.00.H44", "000.01.00.H44"],
        }
    ]
    table = run_edx("gateway", "system", "list", cwd=tmp_path, env=env)
    assert "vp.tinh" in table.stdout
    for output in (added, listed, table):
        assert "a-long-secret-value" not in output.stdout + output.stderr

    secret.write_text("another-long-secret\n")
    rotated = run_edx(
        "gateway",
        "system",
        "rotate",
        "vp.tinh",
        "--secret-file",
        str(secret),
        cwd=tmp_path,
        env=env,
    )
    assert rotated.returncode == 0, rotated.stderr
    again = run_edx(
        "gateway",
        "system",
        "add",
        "vp.tinh",
        "--agency",
        "000.00.00.H44",
        "--secret-file",
        str(secret),
        cwd=tmp_path,
        env=env,
    )
    assert again.returncode == 1
    assert again.stderr.strip() == "error: system vp.tinh is already registered [conflict]"
    removed = run_edx("gateway", "system", "remove", "vp.tinh", cwd=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
    missing = run_edx("gateway", "system", "remove", "vp.tinh", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no system vp.tinh is registered [not-found]"
    assert "Traceback" not in missing.stderr
