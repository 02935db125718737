"""The embedded Tansu launcher: starts, answers Kafka clients, stops, and names a missing binary."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bus.embedded import EmbeddedBroker, find_broker_binary
from bus.errors import BrokerBinaryMissingError, BrokerError, BrokerUnavailableError
from bus.kafka import make_admin, started
from bus.settings import Settings


def _refuses(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return False
    except OSError:
        return True


def test_binary_is_found() -> None:
    binary = find_broker_binary()
    assert binary.is_file()


def test_missing_binary_is_a_named_error(tmp_path: Path) -> None:
    broker = EmbeddedBroker(binary=tmp_path / "no-such-tansu")
    with pytest.raises(BrokerBinaryMissingError) as caught:
        broker.start()
    assert caught.value.reason_code == "broker-binary-missing"
    assert isinstance(caught.value, FileNotFoundError)


def test_missing_binary_override_is_a_named_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "absent"))
    with pytest.raises(BrokerBinaryMissingError, match="absent"):
        find_broker_binary()


def test_binary_that_exits_at_once_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'cannot bind' >&2\nexit 3\n")
    fake.chmod(0o755)
    broker = EmbeddedBroker(binary=fake, port=1, start_timeout=5)
    with pytest.raises(BrokerUnavailableError, match="cannot bind"):
        broker.start()
    assert not broker.running


def test_bootstrap_of_a_stopped_broker_is_an_error() -> None:
    with pytest.raises(BrokerError):
        _ = EmbeddedBroker().bootstrap


@pytest.mark.kafka
async def test_starts_answers_and_stops(tmp_path: Path) -> None:
    async with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        assert broker.running
        host, port = broker.bootstrap.split(":")
        assert host == "127.0.0.1"
        async with started(make_admin(Settings.of(bootstrap=broker.bootstrap))) as admin:
            assert isinstance(await admin.list_topics(), list)
    assert not broker.running
    assert _refuses(host, int(port))
    broker.stop()  # idempotent


_PARENT = """
import sys, threading, time
from pathlib import Path
from bus.embedded import EmbeddedBroker

broker = EmbeddedBroker(log_path=Path(sys.argv[1]))
if sys.argv[2] == "main":
    broker.start()
else:  # from another thread, which then ends: only the watchdog ties the broker to us
    starter = threading.Thread(target=broker.start)
    starter.start()
    starter.join()
print(broker.pid, broker.port, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie awaiting its reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


@pytest.mark.kafka
@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_the_broker_dies_with_a_parent_killed_by_sigkill(tmp_path: Path, started_from: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path / "tansu.log"), started_from],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid_text, port_text = parent.stdout.readline().split()
        pid, port = int(pid_text), int(port_text)
        if started_from == "thread":
            time.sleep(1.0)  # the starting thread has ended: the broker must still run
        assert not _gone(pid)
        assert not _refuses("127.0.0.1", port)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
    # A SIGKILLed process group dies asynchronously: the thread-group leader can read as a
    # zombie while its other threads still hold the listening socket, so both are awaited.
    deadline = time.monotonic() + 15
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid), "the broker outlived its parent"
    while not _refuses("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _refuses("127.0.0.1", port), "the broker's port still answers after it died"
