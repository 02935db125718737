"""A client in another language: a Java 17 program using only java.net.http (and the JDK's
crypto) sends and receives through /api/v1. The test compiles it and runs it."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bus import Settings
from edxml import Mode, build, parse
from signing import Verifier
from tests.agency_client.helpers import DISTRICT, PROVINCE, make_document
from tests.gateway.harness import add_system, gateway_config, running_gateway

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SOURCE = Path(__file__).with_name("java") / "EdxNativeClient.java"


async def _run(*command: str, cwd: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, f"{command[0]} failed:\n{text}"
    return text


async def test_a_java_program_sends_and_receives(
    live_bus: Settings, verifier: Verifier, tmp_path: Path
) -> None:
    javac, java = shutil.which("javac"), shutil.which("java")
    assert javac, "Java 17 (javac) must be on PATH for this test"
    assert java, "Java 17 (java) must be on PATH for this test"
    build_dir = tmp_path / "java"
    build_dir.mkdir()
    await _run(javac, "--release", "17", "-d", str(build_dir), str(SOURCE), cwd=tmp_path)

    config = gateway_config(tmp_path)
    add_system(config, "vp.tinh", [PROVINCE], "secret-of-the-province")
    add_system(config, "vp.huyen", [DISTRICT], "secret-of-the-district")
    document = make_document(PROVINCE, [DISTRICT], subject="Gửi từ Java")
    package = tmp_path / "document.edxml"
    package.write_bytes(build(document))
    received = tmp_path / "received.edxml"
    async with running_gateway(live_bus, config) as gw:
        output = await _run(
            java,
            "-cp",
            str(build_dir),
            "EdxNativeClient",
            gw.url,
            "vp.tinh",
            "secret-of-the-province",
            "vp.huyen",
            "secret-of-the-district",
            str(package),
            str(received),
            cwd=tmp_path,
        )
    assert "sent " in output
    assert output.rstrip().endswith("bytes, done")
    data = received.read_bytes()
    assert verifier.verify(data).agency_code == PROVINCE  # signed in custody
    assert parse(data, mode=Mode.STRICT).package.document_id == document.document_id
