"""``edx agency add | list | suspend | reinstate`` against the session broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bus.settings import Settings
from cli.main import cli
from signing import DevPki
from tests.service_processes import topic_environment

PROVINCE = "000.00.00.H44"
DISTRICT = "000.00.24.H44"
COMMUNE = "000.46.24.H44"
OTHER_PROVINCE = "000.00.00.H41"


@pytest.fixture
def env(bus_settings: Settings) -> dict[str, str]:
    """The environment pointing the CLI at the test's broker and own topics."""
    return {
        "EDX_BOOTSTRAP": bus_settings.broker.bootstrap,
        "EDX_HOME": str(bus_settings.home),
        **topic_environment(bus_settings.topics),
    }


def _edx(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_add_requires_a_valid_code(tmp_path: Path) -> None:
    code, _, err = _edx({"EDX_HOME": str(tmp_path)}, "agency", "add", "H44", "Nowhere")
    assert code == 1
    assert "invalid-agency-code" in err
    assert "Traceback" not in err


def test_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    env = {"EDX_HOME": str(tmp_path), "EDX_BOOTSTRAP": "127.0.0.1:1"}
    code, _, err = _edx(env, "agency", "list")
    assert code == 1
    assert err.startswith("error: ")
    assert "broker-unavailable" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.kafka
def test_add_list_suspend_reinstate(env: dict[str, str], dev_pki: DevPki) -> None:
    cert = str(dev_pki.paths(DISTRICT).cert_path)
    assert _edx(env, "agency", "add", PROVINCE, "UBND Tỉnh Quảng Bình")[0] == 0
    code, out, _ = _edx(env, "agency", "add", DISTRICT, "UBND Huyện Bố Trạch", "--cert", cert)
    assert code == 0
    assert f"under {PROVINCE}" in out
    assert "1 certificate" in out
    assert _edx(env, "agency", "add", COMMUNE, "UBND Xã Hoàn Trạch")[0] == 0
    assert _edx(env, "agency", "add", OTHER_PROVINCE, "UBND Tỉnh Nghệ An")[0] == 0

    code, out, _ = _edx(env, "agency", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["code", "level", "parent", "state", "certs", "name"]
    assert [line.split()[0] for line in lines[2:]] == [
        OTHER_PROVINCE,
        PROVINCE,
        DISTRICT,
        COMMUNE,
    ]
    assert "Quảng Bình" in out

    code, out, _ = _edx(env, "agency", "list", "--under", PROVINCE, "--json")
    assert code == 0
    listed = json.loads(out)
    assert [a["code"] for a in listed] == [DISTRICT, COMMUNE]
    assert listed[0]["cert_fingerprints"] == [dev_pki.signer(DISTRICT).fingerprint]
    assert listed[1]["parent"] == DISTRICT

    code, out, _ = _edx(env, "agency", "list", "--level", "1", "--json")
    assert [a["code"] for a in json.loads(out)] == [OTHER_PROVINCE, PROVINCE]

    assert _edx(env, "agency", "suspend", DISTRICT)[0] == 0
    code, out, _ = _edx(env, "agency", "list", "--json")
    states = {a["code"]: a["state"] for a in json.loads(out)}
    assert states[DISTRICT] == "SUSPENDED"
    assert states[COMMUNE] == "ACTIVE"

    assert _edx(env, "agency", "reinstate", DISTRICT)[0] == 0
    _, out, _ = _edx(env, "agency", "list", "--json")
    assert {a["code"]: a["state"] for a in json.loads(out)}[DISTRICT] == "ACTIVE"


@pytest.mark.kafka
def test_suspending_an_unknown_agency_is_a_named_error(env: dict[str, str]) -> None:
    code, _, err = _edx(env, "agency", "suspend", COMMUNE)
    assert code == 1
    assert "unknown-agency" in err
    assert COMMUNE in err
