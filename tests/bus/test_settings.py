"""The one settings object: defaults < TOML file < environment < explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from agency_client.credentials import load_reader
from bus import Settings, load_settings, make_reader, make_verifier
from bus.errors import ConfigError
from bus.settings import DEFAULT_MAX_PACKAGE_BYTES, ENV_VARS, FLAT_NAMES, TopicNames
from bus.topics import topic_specs
from gateway.config import GatewayConfig
from signing import DevPki


def test_defaults_derive_paths_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.edx/edx.toml of a developer's can leak in
    settings = load_settings({})
    assert settings.broker.bootstrap == "127.0.0.1:9092"
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
    assert settings.broker.bootstrap == "file:9092"  # from the file
    assert settings.topic_layout.partitions == 9  # the environment beats the file
    assert settings.observability.metrics_port == 9500  # an explicit override beats both
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


def _resolve(settings: Settings, path: str) -> object:
    value: object = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_every_environment_variable_names_a_field() -> None:
    defaults = Settings()
    for var, path in ENV_VARS.items():
        assert var.startswith("EDX_")
        group, _, name = path.rpartition(".")
        holder = getattr(defaults, group) if group else defaults
        assert name in holder.__dataclass_fields__, (var, path)
    assert set(ENV_VARS.values()) | {"topics"} == set(FLAT_NAMES.values())


def test_every_flat_name_sets_its_field() -> None:
    paths = {"home", "pki", "trust", "crl", "ssl_cafile", "ssl_certfile", "ssl_keyfile"}
    numbers = {"group_session_timeout_ms", "router_workers"}
    for name, path in FLAT_NAMES.items():
        default = _resolve(Settings(), path)
        if name in paths:
            sample: object = Path(f"/elsewhere/{name}")
        elif isinstance(default, bool):
            sample = not default
        elif name in numbers or isinstance(default, int | float):
            sample = 7
        elif isinstance(default, TopicNames):
            sample = TopicNames(submit="other.submit")
        else:
            sample = f"other-{name}"
        assert _resolve(Settings.of(**{name: sample}), path) == sample, name
    settings = Settings.of(bootstrap="b:1", router_group="r", max_package_bytes=1000, pki="/p")
    assert settings.broker.bootstrap == "b:1"
    assert settings.groups.router == "r"
    assert settings.packages.max_package_bytes == 1000
    assert settings.keys.pki == Path("/p")
    assert settings.with_overrides(bootstrap=None, partitions=5) == Settings.of(
        bootstrap="b:1", router_group="r", max_package_bytes=1000, pki="/p", partitions=5
    )


def test_environment_beats_file_and_overrides_beat_both(tmp_path: Path) -> None:
    config = tmp_path / "edx.toml"
    config.write_text(
        '[edx]\nrouter_group = "file"\ntracker_group = "file"\nlog_format = "json"\n',
        encoding="utf-8",
    )
    environ = {"EDX_CONFIG": str(config), "EDX_ROUTER_GROUP": "env", "EDX_TRACKER_GROUP": "env"}
    settings = load_settings(environ, tracker_group="flag", log_format=None)
    assert settings.groups.router == "env"
    assert settings.groups.tracker == "flag"
    assert settings.observability.log_format == "json"


def test_flat_keys_and_sub_tables_load_the_same(tmp_path: Path) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text(
        '[edx]\nbootstrap = "k:9"\nmax_package_bytes = 1234\npartitions = 2\n'
        'group_instance_id = "r-1"\n[edx.topics]\nsubmit = "s"\n',
        encoding="utf-8",
    )
    grouped = tmp_path / "grouped.toml"
    grouped.write_text(
        '[edx.broker]\nbootstrap = "k:9"\n[edx.packages]\nmax_package_bytes = 1234\n'
        '[edx.topic_layout]\npartitions = 2\n[edx.groups]\ninstance_id = "r-1"\n'
        '[edx.topics]\nsubmit = "s"\n',
        encoding="utf-8",
    )
    from_flat = load_settings({"EDX_CONFIG": str(flat)})
    assert from_flat == load_settings({"EDX_CONFIG": str(grouped)})
    assert from_flat.broker.bootstrap == "k:9"
    assert from_flat.packages.max_package_bytes == 1234
    assert from_flat.topic_layout.partitions == 2
    assert from_flat.groups.instance_id == "r-1"
    assert from_flat.topics.submit == "s"
    assert from_flat.topics.events == TopicNames().events


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[edx]\nbootstrapp = "x"\n', "'bootstrapp'"),
        ('[edx.broker]\nbootstrapp = "x"\n', "'broker.bootstrapp'"),
        ('[edx.packages]\nbootstrap = "x"\n', "'packages.bootstrap'"),
        ('[edx.topics]\nnope = "x"\n', "nope"),
    ],
)
def test_an_unknown_key_is_a_config_error_naming_it(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "edx.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=named):
        load_settings({"EDX_CONFIG": str(config)})


def test_an_unknown_flat_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'bootstrapp'"):
        Settings.of(bootstrapp="x")


def test_one_package_size_default_everywhere(tmp_path: Path) -> None:
    """The router's reader, the SDK's, the gateway's upload cap and the topics' record
    size all come from ``packages.max_package_bytes``, whose one default is here."""
    pki = DevPki.init(tmp_path / "pki")
    for size in (DEFAULT_MAX_PACKAGE_BYTES, 12_345):
        settings = Settings.of(pki=pki.directory, max_package_bytes=size)
        assert settings.packages.limits.max_package_bytes == size
        assert make_reader(settings).verifier.limits.max_package_bytes == size  # router
        assert load_reader(settings).verifier.limits.max_package_bytes == size  # SDK
        gateway = GatewayConfig.from_settings(settings, {})
        assert size < gateway.max_upload_bytes <= size + 4096
        for spec in topic_specs(settings, []):
            if "max.message.bytes" in spec.configs:
                assert int(spec.configs["max.message.bytes"]) > size
    assert Settings().packages.max_package_bytes == DEFAULT_MAX_PACKAGE_BYTES


def test_readers_share_the_package_size_limit(tmp_path: Path) -> None:
    pki = DevPki.init(tmp_path / "pki")
    settings = Settings.of(pki=pki.directory, max_package_bytes=12_345, topics=TopicNames())
    assert settings.packages.limits.max_package_bytes == 12_345
    verifier = make_verifier(settings)
    assert verifier.limits == settings.packages.limits


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("1", True), ("off", False)])
def test_large_attachments_from_the_environment(text: str, expected: bool) -> None:
    settings = load_settings({"EDX_LARGE_ATTACHMENTS": text})
    assert settings.packages.large_attachments is expected
    assert settings.packages.limits.large_text is expected


def test_large_attachments_refuses_words_it_cannot_read() -> None:
    with pytest.raises(ConfigError, match="large_attachments"):
        load_settings({"EDX_LARGE_ATTACHMENTS": "perhaps"})


def test_large_attachments_let_one_attachment_fill_the_package() -> None:
    limits = Settings.of(large_attachments=True, max_package_bytes=30_000_000).packages.limits
    assert limits.max_attachment_bytes == 30_000_000
    assert limits.large_text
