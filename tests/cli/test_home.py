"""``--home``: every command that reads or writes state acts on the directory it names.

Two homes side by side, ``EDX_HOME`` naming one and ``--home`` the other: the
command must act on the one ``--home`` names, whether the option is given to
``edx`` itself or to the command.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from signing import DevPki
from tests.cli.test_tracking import track_province_directive
from tests.signing._packages import document
from tests.tracker.factory import DIRECTIVE

H41 = "000.00.00.H41"
H44 = "000.00.24.H44"

#: One invocation of every command that reads or writes state (``{file}``: a file
#: that exists). Each loads its settings before doing anything else.
STATEFUL = [
    ["send", "--from", H41, "--to", H44, "--subject", "s", "--number", "1", "--notation", "X"],
    ["send", "--from", H41, "--to", H44, "--file", "{file}"],
    ["inbox", "--agency", H41],
    ["report", "doc", "--agency", H41, "--status", "03"],
    ["status", "doc"],
    ["track"],
    ["trail", "doc"],
    ["replay", "--no-progress"],
    ["sign", "--agency", H41, "{file}", "-"],
    ["verify", "{file}"],
    ["demo"],
    ["up"],
    ["router", "run"],
    ["tracker", "run"],
    ["topics", "init"],
    ["agency", "list"],
    ["agency", "add", H41, "name"],
    ["agency", "suspend", H41],
    ["agency", "reinstate", H41],
    ["gateway", "run"],
    ["gateway", "system", "list"],
    ["gateway", "system", "remove", "system"],
    ["log", "run"],
    ["log", "checkpoint"],
    ["log", "prove", "--leaf", "0"],
    ["log", "consistency", "0", "1"],
    ["log", "watch"],
    ["log", "audit"],
    ["evidence", "export", "doc", "--out", "{file}.zip"],
    ["evidence", "verify", "{file}"],
]


def _home(root: Path, name: str) -> Path:
    """A home whose settings file is refused with a message naming the home."""
    home = root / name
    home.mkdir()
    (home / "edx.toml").write_text(f'partitions = "{name}"\n', encoding="utf-8")
    return home


def _edx(*args: str | Path, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No EDX_* setting of the test run leaks in; EDX_HOME names a third directory."""
    return {
        "EDX_HOME": str(tmp_path / "from-the-environment"),
        "EDX_BOOTSTRAP": "127.0.0.1:9",
        "EDX_CONFIG": "",
        "EDX_PKI": "",
        "EDX_TRUST": "",
        "EDX_DB_URL": "",
    }


@pytest.mark.parametrize("where", ["group", "command"])
@pytest.mark.parametrize("args", STATEFUL, ids=[" ".join(a[:2] + a[4:5]) for a in STATEFUL])
def test_every_stateful_command_reads_the_home_it_is_given(
    tmp_path: Path, env: dict[str, str], args: list[str], where: str
) -> None:
    _home(tmp_path, "from-the-environment")
    named = _home(tmp_path, "named-by-option")
    given = tmp_path / "package.edxml"
    given.write_bytes(b"<not-read/>")
    words = [a.replace("{file}", str(given)) for a in args]
    home = ["--home", str(named)]
    words = [*home, *words] if where == "group" else [*words, *home]
    result = _edx(*words, env=env)
    assert result.exit_code == 1, result.output
    assert "partitions = 'named-by-option' is not valid" in result.stderr, result.stderr


def test_the_command_option_wins_over_the_group_option(tmp_path: Path, env: dict[str, str]) -> None:
    first = _home(tmp_path, "first")
    second = _home(tmp_path, "second")
    result = _edx("--home", first, "track", "--home", second, env=env)
    assert "partitions = 'second' is not valid" in result.stderr, result.stderr


def test_status_and_track_read_the_tracker_of_the_named_home(
    tmp_path: Path, env: dict[str, str]
) -> None:
    full, empty = tmp_path / "full", tmp_path / "empty"
    full.mkdir()
    track_province_directive(f"sqlite:///{full / 'tracker.db'}")
    tracked = _edx("--home", full, "track", "--json", env=env)
    assert tracked.exit_code == 0, tracked.output
    assert [d["document_id"] for d in json.loads(tracked.stdout)] == [DIRECTIVE]
    assert _edx("status", DIRECTIVE, "--home", full, env=env).exit_code == 0
    missing = _edx("--home", empty, "status", DIRECTIVE, env=env)
    assert missing.exit_code == 1
    assert str(empty) in missing.stderr


def test_sign_and_verify_use_the_pki_of_the_named_home(tmp_path: Path, env: dict[str, str]) -> None:
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:  # two roots, each issuing its own key for the same agency
        DevPki.init(home / "pki").issue(H41, "Ủy ban nhân dân tỉnh Nghệ An")
    unsigned, signed = tmp_path / "unsigned.edxml", tmp_path / "signed.edxml"
    unsigned.write_bytes(document(sender=H41))
    done = _edx("--home", homes[0], "sign", "--agency", H41, unsigned, signed, env=env)
    assert done.exit_code == 0, done.output
    assert _edx("verify", signed, "--home", homes[0], env=env).exit_code == 0
    assert _edx("--home", homes[1], "verify", signed, env=env).exit_code == 3


def test_a_send_while_the_bus_is_down_is_kept_in_the_named_home(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home, other = tmp_path / "sender", tmp_path / "other"
    DevPki.init(home / "pki").issue(H41, "Ủy ban nhân dân tỉnh Nghệ An")
    sent = _edx(
        "--home", home, "send", "--from", H41, "--to", H44, "--subject", "Gửi khi mất mạng",
        "--number", "7", "--notation", "UBND-VP", "--json", env=env,
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["published"] is False
    assert (home / "outbox" / f"{H41}.sqlite").is_file()
    assert not other.exists()
    assert not (tmp_path / "from-the-environment").exists()


def test_gateway_systems_are_registered_in_the_named_home(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home, other = tmp_path / "gateway-home", tmp_path / "other"
    secret = tmp_path / "secret"
    secret.write_text("s3cret-of-the-system\n", encoding="utf-8")
    added = _edx(
        "gateway", "system", "add", "office", "--agency", H41, "--secret-file", secret,
        "--home", home, env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = _edx("--home", home, "gateway", "system", "list", "--json", env=env)
    assert [s["system_id"] for s in json.loads(listed.stdout)] == ["office"]
    elsewhere = _edx("--home", other, "gateway", "system", "list", "--json", env=env)
    assert json.loads(elsewhere.stdout) == []
