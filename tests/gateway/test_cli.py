"""`edx gateway system ...` as a clerk runs it: one line per answer, secrets never shown."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.fixtures.demo import clean_env, run_edx


def test_systems_from_the_command_line(tmp_path: Path) -> None:
    env = clean_env(EDX_HOME=str(tmp_path / "home"))

    def systems(*args: str) -> subprocess.CompletedProcess[str]:
        """``edx gateway system ARGS`` in the clerk's shell."""
        return run_edx("gateway", "system", *args, cwd=tmp_path, env=env)

    secret = tmp_path / "system.secret"
    secret.write_text("a-long-secret-value\n")
    added = systems(
        "add",
        "vp.tinh",
        "--agency",
        "000.00.00.H44",
        "--agency",
        "000.01.00.H44",
        "--secret-file",
        str(secret),
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "system vp.tinh acts for 000.00.00.H44, 000.01.00.H44"

    listed = systems("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "system_id": "vp.tinh",
            "may_register": False,
            "agencies": ["000.00.00.H44", "000.01.00.H44"],
        }
    ]
    table = systems("list")
    assert "vp.tinh" in table.stdout
    for output in (added, listed, table):
        assert "a-long-secret-value" not in output.stdout + output.stderr

    secret.write_text("another-long-secret\n")
    rotated = systems("rotate", "vp.tinh", "--secret-file", str(secret))
    assert rotated.returncode == 0, rotated.stderr
    again = systems("add", "vp.tinh", "--agency", "000.00.00.H44", "--secret-file", str(secret))
    assert again.returncode == 1
    assert again.stderr.strip() == "error: system vp.tinh is already registered [conflict]"
    removed = systems("remove", "vp.tinh")
    assert removed.returncode == 0, removed.stderr
    missing = systems("remove", "vp.tinh")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no system vp.tinh is registered [not-found]"
    assert "Traceback" not in missing.stderr
