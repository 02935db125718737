"""edx send / inbox / report against the real broker, with a router running beside them.

The router runs in a thread with its own event loop (the commands run their own
``asyncio.run``, as they do for a clerk at a terminal).
"""

from __future__ import annotations

import _thread
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bus.settings import Settings
from cli.exchange import STOP_GRACE, _run_until_interrupted
from cli.main import cli
from signing import Signer
from tests.agency_client.helpers import (  # the fixtures are found by name
    COMMUNE,
    DISTRICT,
    PROVINCE,
    agency_pki,  # noqa: F401
    exchange_settings,  # noqa: F401
    threaded_bus,  # noqa: F401
)
from tests.service_processes import bus_environment
from tests.signing._packages import document

pytestmark = pytest.mark.kafka


@pytest.fixture
def bus_env(threaded_bus: Settings) -> dict[str, str]:  # noqa: F811  (imported fixture)
    """Environment for ``edx`` on the test's topics, while a router runs in a thread."""
    return bus_environment(threaded_bus)


def _edx(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_send_inbox_and_report_round_trip(bus_env: dict[str, str], tmp_path: Path) -> None:
    scan = tmp_path / "cong-van.pdf"
    scan.write_bytes(b"%PDF-1.4 " + "Công văn số 42".encode() * 100)
    code, out, err = _edx(
        bus_env,
        "send", "--from", PROVINCE, "--to", f"{DISTRICT},{COMMUNE}",
        "--subject", "Về việc báo cáo tình hình lũ lụt", "--number", "42",
        "--notation", "UBND-VP", "--attach", str(scan), "--due", "2026-12-31", "--json",
    )  # fmt: skip
    assert code == 0, err
    sent = json.loads(out)
    doc_id = sent["document_id"]
    assert doc_id.startswith(f"{PROVINCE},")
    assert doc_id.endswith(",42/UBND-VP")
    assert sent["published"] is True
    assert sorted(sent["recipients"]) == sorted([DISTRICT, COMMUNE])

    saved = tmp_path / "saved"
    code, out, err = _edx(
        bus_env, "inbox", "--agency", DISTRICT, "--json", "--wait", "5", "--save", str(saved)
    )
    assert code == 0, err
    (item,) = json.loads(out)
    assert item["kind"] == "document"
    assert item["document_id"] == doc_id
    assert item["from"] == PROVINCE
    assert item["subject"] == "Về việc báo cáo tình hình lũ lụt"
    assert item["due_date"] == "2026-12-31"
    assert item["attachments"] == [
        {"name": "cong-van.pdf", "content_type": "application/pdf", "size": scan.stat().st_size}
    ]
    (kept,) = saved.iterdir()
    assert b"<edXML" in kept.read_bytes()

    code, out, err = _edx(
        bus_env, "report", doc_id, "--agency", DISTRICT, "--status", "03",
        "--description", "Đã vào sổ", "--json",
    )  # fmt: skip
    assert code == 0, err
    reported = json.loads(out)
    assert reported["status_code"] == "03"
    assert reported["published"] is True  # the bus answered: not left in the outbox

    code, out, err = _edx(bus_env, "inbox", "--agency", PROVINCE, "--wait", "5")
    assert code == 0, err
    lines = out.splitlines()
    assert any(f"from {DISTRICT}  01" in line for line in lines), out
    assert any(f"from {DISTRICT}  03" in line and "Đã vào sổ" in line for line in lines), out

    # Read again: everything shown was taken, nothing comes twice.
    code, out, err = _edx(bus_env, "inbox", "--agency", DISTRICT, "--wait", "2")
    assert code == 0
    assert out == ""
    assert "nothing new" in err


def test_a_package_built_by_office_software_goes_byte_for_byte(
    bus_env: dict[str, str], tmp_path: Path
) -> None:
    slot = Path(bus_env["EDX_PKI"]) / "agencies" / PROVINCE
    signed = Signer.from_files(slot / "key.pem", slot / "cert.pem").sign(
        document(sender=PROVINCE, recipients=(DISTRICT,), number="77")
    )
    package = tmp_path / "from-office-software.edxml"
    package.write_bytes(signed)
    code, out, err = _edx(bus_env, "send", "--from", PROVINCE, "--file", str(package), "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["published"] is True
    assert sent["normalised"] == []

    saved = tmp_path / "saved"
    code, out, err = _edx(
        bus_env, "inbox", "--agency", DISTRICT, "--json", "--wait", "5", "--save", str(saved)
    )
    assert code == 0, err
    assert [i["document_id"] for i in json.loads(out)] == [sent["document_id"]]
    (arrived,) = saved.iterdir()
    assert arrived.read_bytes() == signed


def test_refusals_are_one_clear_line(bus_env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = _edx(
        bus_env, "report", "000.00.00.H44,2026/01/01,1/X", "--agency", DISTRICT, "--status", "03"
    )
    assert code == 1
    assert err.startswith("error: ")
    assert "[unknown-document]" in err
    assert len(err.strip().splitlines()) == 1

    code, _out, err = _edx(
        bus_env, "send", "--from", "000.77.77.H44", "--to", DISTRICT,
        "--subject", "x", "--number", "1", "--notation", "X",
    )  # fmt: skip
    assert code == 1
    assert "[not-authorised]" in err
    assert len(err.strip().splitlines()) == 1

    unreachable = {**bus_env, "EDX_BOOTSTRAP": "127.0.0.1:9"}
    code, _, err = _edx(unreachable, "inbox", "--agency", DISTRICT)
    assert code == 1
    assert "[broker-unavailable]" in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = _edx(bus_env, "report", "x", "--agency", DISTRICT, "--status", "01")
    assert code == 2  # a usage error: 01 is automatic
    assert "01" in err


def test_inbox_follow_streams_json_lines_until_interrupted(
    bus_env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = _edx(
        bus_env, "send", "--from", PROVINCE, "--to", COMMUNE,
        "--subject", "Theo dõi", "--number", "77", "--notation", "UBND-VP", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc_id = json.loads(out)["document_id"]
    follower = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "edx"),
            "inbox",
            "--agency",
            COMMUNE,
            "--follow",
            "--json",
        ],
        env={**os.environ, **bus_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        line = follower.stdout.readline()  # blocks until the first package is shown
        assert json.loads(line)["document_id"] == doc_id
        time.sleep(0.5)
        # It stops at once (its 01 is in the outbox already). It once ignored Ctrl-C:
        # Python 3.11's asyncio.wait_for dropped the cancellation of a task whose
        # publication completed at that moment, and stop() waited for that task.
        follower.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, stderr = follower.communicate(timeout=15)
        took = time.monotonic() - interrupted
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.communicate()  # reaps it and closes its pipes, whatever failed above
    # The clean stop takes milliseconds and is cut short after STOP_GRACE (1 s); the
    # rest is the interpreter's exit, slow on a busy machine.
    assert took < 5, f"edx inbox --follow took {took:.1f} s to stop after Ctrl-C"
    assert follower.returncode == 130
    assert "Traceback" not in stderr
    assert "interrupted" in stderr


def test_ctrl_c_ends_the_inbox_within_its_grace_when_the_clean_stop_hangs() -> None:
    """A client stop waiting on a broker that does not answer (the last commit, leaving
    the group, flushing the producer) does not hold ``edx inbox`` past its grace."""
    reading_started = threading.Event()

    async def reading() -> None:
        reading_started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(5)  # the stop, waiting on a silent broker

    def press_ctrl_c() -> None:
        assert reading_started.wait(30)
        _thread.interrupt_main()  # what SIGINT does to the main thread

    pressing = threading.Thread(target=press_ctrl_c, daemon=True)
    pressing.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _run_until_interrupted(reading)
    pressing.join()
    took = time.monotonic() - started
    assert took < STOP_GRACE + 2, f"Ctrl-C took {took:.1f} s to end the command"


def test_a_document_sent_while_the_bus_is_down_goes_out_with_the_next_command(
    bus_env: dict[str, str],
) -> None:
    offline = {**bus_env, "EDX_BOOTSTRAP": "127.0.0.1:9"}
    code, out, err = _edx(
        offline, "send", "--from", PROVINCE, "--to", DISTRICT,
        "--subject", "Gửi khi mất mạng", "--number", "88", "--notation", "UBND-VP", "--json",
    )  # fmt: skip
    assert code == 0, err
    kept = json.loads(out)
    assert kept["published"] is False
    assert kept["state"] == "pending"

    code, _, err = _edx(bus_env, "inbox", "--agency", PROVINCE, "--wait", "2")  # publishes it
    assert code == 0, err
    code, out, err = _edx(bus_env, "inbox", "--agency", DISTRICT, "--json", "--wait", "5")
    assert code == 0, err
    assert [i["document_id"] for i in json.loads(out)] == [kept["document_id"]]
