"""The one settings object: defaults < TOML file < environment < explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus import Settings, load_settings, make_verifier
from bus.errors import ConfigError
from bus.settings import ENV_VARS, TopicNames
from signing import DevPki


def test_defaults_derive_paths_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.edx/edx.toml of a developer's can leak in
    settings = load_settings({})
    assert settings.bootstrap == "127.0.0.1:9092"
    assert settings.resolved_db_url == "sqlite:///.edx/tracker.db"
    assert settings.resolved_pki == Path(".edx/pki")
    assert settings.resolved_trust == Path(".edx/pki/root")
    assert settings.agency_key_paths("000.00.00.H41") == (
        Path(".edx/pki/agencies/000.00.00.H41/key.pem"),
        Path(".edx/pki/agencies/000.00.00.H41/cert.pem"),
    )


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    home = tmp_path / "edx"
    home.mkdir()
    (home / "edx.toml").write_text(
        '[edx]\nbootstrap = "file:9092"\npartitions = 6\nmetrics_port = 9400\n'
        '[edx.topics]\nsubmit = "file.submit"\n',
        encoding="utf-8",
    )
    environ = {"EDX_HOME": str(home), "EDX_PARTITIONS": "9", "EDX_TOPIC_EVENTS": "env.events"}
    settings = load_settings(environ, metrics_port=9500, db_url=None)
    assert settings.bootstrap == "file:9092"  # from the file
    assert settings.partitions == 9  # the environment beats the file
    assert settings.metrics_port == 9500  # an explicit override beats both
    assert settings.topics.events == "env.events"
    assert settings.topics.inbox("000.00.00.H41") == "edx.inbox.000.00.00.H41"
    assert settings.resolved_db_url == f"sqlite:///{home / 'tracker.db'}"


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"EDX_PARTITIONS": "three"}, "partitions"),
        ({"EDX_TOPIC_NOPE": "x"}, "unknown topic setting"),
        ({"EDX_CONFIG": "/nonexistent/edx.toml"}, "does not exist"),
    ],
)
def test_unusable_values_are_named_config_errors(environ: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(environ)


def test_a_broken_settings_file_is_a_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "edx.toml"
    broken.write_text("bootstrap = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"EDX_CONFIG": str(broken)})


def test_every_environment_variable_names_a_field() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert set(ENV_VARS.values()) <= fields
    assert all(name.startswith("EDX_") for name in ENV_VARS)


def test_readers_share_the_package_size_limit(tmp_path: Path) -> None:
    pki = DevPki.init(tmp_path / "pki")
    settings = Settings(pki=pki.directory, max_package_bytes=12_345, topics=TopicNames())
    assert settings.package_limits.max_package_bytes == 12_345
    verifier = make_verifier(settings)
    assert verifier.limits == settings.package_limits


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("1", True), ("off", False)])
def test_large_attachments_from_the_environment(text: str, expected: bool) -> None:
    settings = load_settings({"EDX_LARGE_ATTACHMENTS": text})
    assert settings.large_attachments is expected
    assert settings.package_limits.large_text is expected


def test_large_attachments_refuses_words_it_cannot_read() -> None:
    with pytest.raises(ConfigError, match="large_attachments"):
        load_settings({"EDX_LARGE_ATTACHMENTS": "perhaps"})


def test_large_attachments_let_one_attachment_fill_the_package() -> None:
    limits = Settings(large_attachments=True, max_package_bytes=30_000_000).package_limits
    assert limits.max_attachment_bytes == 30_000_000
    assert limits.large_text
