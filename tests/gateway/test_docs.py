"""docs/GATEWAY.md cannot rot: its curl examples run against a live gateway, and the
commands it shows exist."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import click
import pytest

from bus import Settings
from cli.main import cli
from edxml import build
from tests.agency_client.helpers import DISTRICT, OTHER_PROVINCE, make_document
from tests.fixtures.demo import clean_env
from tests.gateway.harness import add_system, gateway_config, running_gateway

DOC = Path(__file__).resolve().parents[2] / "docs" / "GATEWAY.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.DOTALL)


def test_the_commands_shown_exist() -> None:
    context = click.Context(cli)
    for block in _blocks(DOC.read_text(encoding="utf-8")):
        for words in re.findall(r"^edx ([a-z-]+(?: [a-z-]+)*)", block, re.MULTILINE):
            command: click.Command | None = cli
            for word in words.split():
                if not isinstance(command, click.Group):
                    break
                command = command.get_command(context, word)
                assert command is not None, f"edx {words}"


@pytest.mark.kafka
@pytest.mark.slow
async def test_the_curl_examples_run(live_bus: Settings, tmp_path: Path) -> None:
    examples = [b for b in _blocks(DOC.read_text(encoding="utf-8")) if "curl " in b]
    assert len(examples) >= 3
    config = gateway_config(tmp_path)
    add_system(config, "edx.demo.01", [OTHER_PROVINCE], "demo-secret-01")
    package = tmp_path / "package.edxml"
    async with running_gateway(live_bus, config) as gw:
        for number, example in enumerate(examples):
            package.write_bytes(build(make_document(OTHER_PROVINCE, [DISTRICT])))
            done = await asyncio.to_thread(
                subprocess.run,
                ["bash", "-euo", "pipefail", "-c", example],
                env=clean_env(GW=gw.url, PACKAGE=str(package)),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            shown = f"example {number}:\n{example}\n{done.stdout}\n{done.stderr}"
            assert done.returncode == 0, shown
            assert done.stdout.strip(), shown
            assert '"FAIL"' not in done.stdout, shown
            assert "reason_code" not in done.stdout, shown
            assert '"status":"OK"' in done.stdout or '"doc_id"' in done.stdout, shown
