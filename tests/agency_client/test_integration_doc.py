"""The Python examples of docs/AGENCY_INTEGRATION.md run, in order, against a live bus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bus.settings import Settings
from tests.service_processes import bus_environment

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "AGENCY_INTEGRATION.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_document_has_examples() -> None:
    assert len(_examples()) >= 3


def test_the_examples_run(
    threaded_bus: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = threaded_bus
    for name, value in bus_environment(settings).items():
        monkeypatch.setenv(name, value)
    for number, source in enumerate(_examples(), 1):
        code = compile(source, f"{DOC.name} example {number}", "exec")
        exec(code, {"__name__": "__main__"})  # noqa: S102
    out = capsys.readouterr().out
    assert "sent 000.00.00.H44," in out
    assert "received Về việc chủ động phòng chống lụt bão signed by 000.00.00.H44" in out
    assert "000.00.24.H44 01" in out, out
    assert "000.00.24.H44 03 Đã vào sổ công văn đến" in out, out
    assert "document 000.00.00.H44," in out  # the commune, through the blocking client
    assert "revocation 000.00.00.H44," in out
