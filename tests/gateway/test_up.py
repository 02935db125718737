"""`edx up --gateway-port P` runs the gateway beside the embedded bus and prints its URL."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from bus.embedded import free_port
from tests.cli.test_services import running, stop, wait_until_up
from tests.fixtures.demo import clean_env

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_up_with_a_gateway_port_serves_the_gateway_until_ctrl_c(tmp_path: Path) -> None:
    port, gateway = free_port(), free_port()
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{port}")
    with running(["up", "--gateway-port", str(gateway)], tmp_path, env) as up:
        deadline = time.monotonic() + 90
        answer = None
        while answer is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{gateway}/healthz", timeout=2)
            except httpx.HTTPError:
                assert up.poll() is None, (tmp_path / "output.log").read_text()
                assert time.monotonic() < deadline, "the gateway did not answer"
                time.sleep(0.3)
        assert answer.json() == {"status": "ok"}
        refused = httpx.post(f"http://127.0.0.1:{gateway}/vxp/getAgenciesList", timeout=10)
        assert refused.json()["ErrorCode"] == "401"
        # The gateway answers before the whole bus is up: Ctrl-C then interrupts the start.
        wait_until_up(up, tmp_path)
        assert stop(up, signal.SIGINT) == 0
    output = (tmp_path / "output.log").read_text()
    assert f"gateway           http://127.0.0.1:{gateway}/vxp" in output
    assert "edxbus stopped" in output
    assert "Traceback" not in output


def test_up_names_a_gateway_port_that_is_taken_and_leaves_no_bus_behind(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(EDX_BOOTSTRAP=f"127.0.0.1:{port}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        gateway = taken.getsockname()[1]
        env["EDX_GATEWAY_PORT"] = str(gateway)  # the variable, as an operator would set it
        with running(["up"], tmp_path, env) as up:
            assert up.wait(timeout=120) != 0
    output = (tmp_path / "output.log").read_text()
    assert f"the gateway could not listen on 127.0.0.1:{gateway}" in output
    assert "Traceback" not in output
    assert not (tmp_path / ".edx" / "bus.json").exists()
