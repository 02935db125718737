"""Checked from outside: ``kcat``, a plain Kafka client, reads what the router wrote.

Operators use standard tools on our topics; nothing about the records may need
edxbus to read them: the package is the value, reasons are plain UTF-8 headers.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bus.settings import Settings
from signing import Signer
from tests.bus.routing_helpers import document, quick_router, register, route, signed, submit

pytestmark = pytest.mark.kafka

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"


def _kcat_environment(scratch: Path) -> dict[str, str]:
    """kcat's environment, with a current librdkafka when the confluent-kafka wheel has one.

    Debian's kcat links librdkafka 2.0.2, which misreads the tagged fields of the
    ApiVersions v3 answer that Tansu (correctly) sends, and gives up. The C API of
    librdkafka is stable, so the same kcat runs on the newer library the wheel ships.
    """
    environment = dict(os.environ)
    try:
        import confluent_kafka
    except ImportError:
        return environment
    bundled = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    libraries = sorted(bundled.glob("librdkafka*.so*")) if bundled.is_dir() else []
    if libraries:
        (scratch / "librdkafka.so.1").symlink_to(libraries[0])
        environment["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(scratch), environment.get("LD_LIBRARY_PATH", "")) if p
        )
    return environment


async def _kcat(bootstrap: str, topic: str, environment: dict[str, str]) -> list[dict[str, Any]]:
    """Every record of ``topic`` as kcat's JSON envelope (one object per line)."""
    binary = shutil.which("kcat")
    if binary is None:
        raise RuntimeError("kcat is not installed (scripts/ensure-tools.sh installs it)")
    process = await asyncio.create_subprocess_exec(
        binary,
        "-C",
        "-b",
        bootstrap,
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-J",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def _headers(envelope: dict[str, Any]) -> dict[str, str]:
    flat = envelope.get("headers") or []
    return dict(zip(flat[::2], flat[1::2], strict=True))


async def test_kcat_reads_inbox_and_dead_letter_records_with_their_headers(
    bus_settings: Settings, pki_dir: Path, signer_for: Callable[[str], Signer], tmp_path: Path
) -> None:
    settings = bus_settings.with_overrides(pki=pki_dir)
    await register(settings, signer_for, [SENDER, RECIPIENT])
    good = document(SENDER, [RECIPIENT])
    good_bytes = signed(good, signer_for(SENDER))
    misaddressed = signed(document(SENDER, ["000.00.00.H98"]), signer_for(SENDER))
    await submit(settings, good_bytes, sender=SENDER, document_id=good.document_id)
    await submit(settings, misaddressed, sender=SENDER)
    async with quick_router(settings) as router:
        await route(router, 2)

    environment = _kcat_environment(tmp_path)
    (delivered,) = await _kcat(
        settings.broker.bootstrap, settings.topics.inbox(RECIPIENT), environment
    )
    assert delivered["key"] == SENDER
    assert delivered["payload"].encode("utf-8") == good_bytes
    headers = _headers(delivered)
    assert headers["edx-kind"] == "document"
    assert headers["edx-document-id"] == good.document_id

    (dead,) = await _kcat(settings.broker.bootstrap, settings.topics.deadletter, environment)
    assert dead["key"] == SENDER
    assert dead["payload"].encode("utf-8") == misaddressed
    reasons = _headers(dead)
    assert reasons["edx-reason-code"] == "unknown-agency"
    assert "000.00.00.H98" in reasons["edx-reason"]
    assert reasons["edx-source"].startswith(settings.topics.submit + "/")
