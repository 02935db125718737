"""What the CLI tests share: a runner in a clean shell with its own state directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """``edx`` as a clerk's shell runs it: no EDX_* setting of the test run leaks in,
    and ``EDX_HOME`` is a fresh directory of the test's own."""
    for name in [n for n in os.environ if n.startswith("EDX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EDX_HOME", str(tmp_path / "home"))
    return CliRunner()
