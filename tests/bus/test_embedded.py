"""The embedded Tansu launcher: starts, answers Kafka clients, stops, and names a missing binary."""

from __future__ import annotations

import socket
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
        async with started(make_admin(Settings(bootstrap=broker.bootstrap))) as admin:
            assert isinstance(await admin.list_topics(), list)
    assert not broker.running
    assert _refuses(host, int(port))
    broker.stop()  # idempotent
