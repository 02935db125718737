"""The one settings object of edxbus (DESIGN.md §8).

Values come from, in rising order of precedence: the defaults below, a TOML file
(``EDX_CONFIG``, else ``$EDX_HOME/edx.toml`` when it exists), ``EDX_*`` environment
variables, and explicit overrides (the CLI's flags). Paths left unset derive from
``home``: ``db_url`` from ``home/tracker.db``, ``pki`` from ``home/pki``, ``trust``
from ``pki/root``.

Every variable name the code reads is listed in :data:`ENV_VARS`; the deployment
files in ``docker/`` are checked against it by a test, so the two cannot drift.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bus.errors import ConfigError
from edxml import Limits

__all__ = ["ENV_VARS", "Settings", "TopicNames", "load_settings"]


@dataclass(frozen=True)
class TopicNames:
    """Topic names of DESIGN.md §3. Inbox topics are ``{inbox_prefix}{agency code}``."""

    submit: str = "edx.submit"
    inbox_prefix: str = "edx.inbox."
    events: str = "edx.events"
    deadletter: str = "edx.deadletter"
    agencies: str = "edx.agencies"

    def inbox(self, agency: str) -> str:
        """The inbox topic of one agency."""
        return f"{self.inbox_prefix}{agency}"


@dataclass(frozen=True)
class Settings:
    """Everything a service, the SDK or the CLI needs to find its broker, store and keys."""

    home: Path = Path(".edx")
    bootstrap: str = "127.0.0.1:9092"
    db_url: str | None = None
    # The router's memory of accepted documents (survives its restarts).
    router_db_url: str | None = None
    pki: Path | None = None
    trust: Path | None = None
    crl: Path | None = None
    # Kafka security: PLAINTEXT for the embedded default; SASL_SSL/SSL in production.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    topics: TopicNames = field(default_factory=TopicNames)
    partitions: int = 3
    replication_factor: int = 1
    # Consumer groups of the services.
    router_group: str = "edx-router"
    tracker_group: str = "edx-tracker"
    # How long a group waits for a member that stopped answering (killed without
    # leaving) before its partitions go to the others or to its restarted self.
    # None: the shortest the broker accepts, at least 3 s (bus.kafka.group_timing).
    group_session_timeout_ms: int | None = None
    # Static group membership (Kafka 2.3+): a member restarted under the same id
    # takes its partitions back at once, without a rebalance. Unique per process.
    group_instance_id: str | None = None
    # The agency-code check (DOMAIN.md §1): configurable, test hubs use other ids.
    agency_pattern: str = r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"
    max_package_bytes: int = 50 * 1024 * 1024
    # Attachments over 7.5 MB decoded (scans of long documents) need libxml2's
    # huge-text mode. Off by default; the DTD, entity, package-size and depth
    # refusals hold either way.
    large_attachments: bool = False
    # The sender's outbox re-submits the same bytes after this much silence.
    resubmit_after_seconds: float = 300.0
    # Processes a router verifies and parses packages on; None: one per core.
    router_workers: int | None = None
    # Longest the broker may hold a router's or tracker's fetch while it has nothing
    # new: what a lone document waits at each hop when the broker does not answer
    # as soon as data arrives (Tansu). aiokafka's default is 500 ms.
    fetch_max_wait_ms: int = 10
    # Prometheus metrics port of a service; 0 turns the endpoint off.
    metrics_port: int = 0
    log_format: str = "text"

    @property
    def resolved_db_url(self) -> str:
        """The tracker database URL, defaulting to SQLite under ``home``."""
        return self.db_url or f"sqlite:///{self.home / 'tracker.db'}"

    @property
    def resolved_router_db_url(self) -> str:
        """The router's store of accepted documents, defaulting to SQLite under ``home``."""
        return self.router_db_url or f"sqlite:///{self.home / 'router.db'}"

    @property
    def resolved_pki(self) -> Path:
        """The dev PKI directory (``root/``, ``agencies/CODE/``, ``crl.pem``)."""
        return self.pki or self.home / "pki"

    @property
    def resolved_trust(self) -> Path:
        """The directory of trust anchors used for verification."""
        return self.trust or self.resolved_pki / "root"

    @property
    def resolved_crl(self) -> Path | None:
        """The CRL checked at verification, when one exists."""
        if self.crl is not None:
            return self.crl
        default = self.resolved_pki / "crl.pem"
        return default if default.exists() else None

    @property
    def package_limits(self) -> Limits:
        """The limits every reader and signer of packages applies (router, SDK,
        replay): one ``max_package_bytes`` everywhere, edxml's safe defaults for the
        rest unless ``large_attachments`` lets one attachment fill the package."""
        if not self.large_attachments:
            return Limits(max_package_bytes=self.max_package_bytes)
        return Limits(
            max_package_bytes=self.max_package_bytes,
            max_attachment_bytes=self.max_package_bytes,
            large_text=True,
        )

    def outbox_path(self, agency: str) -> Path:
        """Where one agency's durable outbox lives."""
        return self.home / "outbox" / f"{agency}.sqlite"

    def agency_key_paths(self, agency: str) -> tuple[Path, Path]:
        """(key, certificate) of an agency in the dev PKI layout."""
        base = self.resolved_pki / "agencies" / agency
        return base / "key.pem", base / "cert.pem"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-``None`` values replaced (the CLI's flags)."""
        given = {k: _coerce(k, v) for k, v in overrides.items() if v is not None}
        return replace(self, **given)


#: Environment variable -> settings field. Topic names use ``EDX_TOPIC_<NAME>``.
ENV_VARS: Mapping[str, str] = {
    "EDX_HOME": "home",
    "EDX_BOOTSTRAP": "bootstrap",
    "EDX_DB_URL": "db_url",
    "EDX_ROUTER_DB_URL": "router_db_url",
    "EDX_PKI": "pki",
    "EDX_TRUST": "trust",
    "EDX_CRL": "crl",
    "EDX_SECURITY_PROTOCOL": "security_protocol",
    "EDX_SASL_MECHANISM": "sasl_mechanism",
    "EDX_SASL_USERNAME": "sasl_username",
    "EDX_SASL_PASSWORD": "sasl_password",
    "EDX_SSL_CAFILE": "ssl_cafile",
    "EDX_SSL_CERTFILE": "ssl_certfile",
    "EDX_SSL_KEYFILE": "ssl_keyfile",
    "EDX_PARTITIONS": "partitions",
    "EDX_REPLICATION_FACTOR": "replication_factor",
    "EDX_ROUTER_GROUP": "router_group",
    "EDX_TRACKER_GROUP": "tracker_group",
    "EDX_GROUP_SESSION_TIMEOUT_MS": "group_session_timeout_ms",
    "EDX_GROUP_INSTANCE_ID": "group_instance_id",
    "EDX_AGENCY_PATTERN": "agency_pattern",
    "EDX_MAX_PACKAGE_BYTES": "max_package_bytes",
    "EDX_LARGE_ATTACHMENTS": "large_attachments",
    "EDX_RESUBMIT_AFTER_SECONDS": "resubmit_after_seconds",
    "EDX_METRICS_PORT": "metrics_port",
    "EDX_ROUTER_WORKERS": "router_workers",
    "EDX_FETCH_MAX_WAIT_MS": "fetch_max_wait_ms",
    "EDX_LOG_FORMAT": "log_format",
}
TOPIC_ENV_PREFIX = "EDX_TOPIC_"

_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}
_PATH_FIELDS = {"home", "pki", "trust", "crl", "ssl_cafile", "ssl_certfile", "ssl_keyfile"}
_INT_FIELDS = {
    "partitions",
    "replication_factor",
    "max_package_bytes",
    "metrics_port",
    "group_session_timeout_ms",
    "router_workers",
    "fetch_max_wait_ms",
}
_FLOAT_FIELDS = {"resubmit_after_seconds"}
_BOOL_FIELDS = {"large_attachments"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, value: Any) -> Any:
    if name not in _FIELD_TYPES:
        raise ConfigError(f"unknown setting {name!r}")
    if name == "topics":
        if isinstance(value, TopicNames):
            return value
        return replace(TopicNames(), **dict(value))
    try:
        if name in _PATH_FIELDS:
            return Path(value)
        if name in _INT_FIELDS:
            return int(value)
        if name in _FLOAT_FIELDS:
            return float(value)
        if name in _BOOL_FIELDS and not isinstance(value, bool):
            text = str(value).strip().lower()
            if text not in _TRUE | _FALSE:
                raise ValueError("expected true or false")
            return text in _TRUE
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name} = {value!r} is not valid: {exc}") from exc
    return value


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, name in ENV_VARS.items():
        if environ.get(var):
            values[name] = _coerce(name, environ[var])
    topic_overrides = {
        var.removeprefix(TOPIC_ENV_PREFIX).lower(): value
        for var, value in environ.items()
        if var.startswith(TOPIC_ENV_PREFIX) and value
    }
    if topic_overrides:
        known = {f.name for f in fields(TopicNames)}
        unknown = set(topic_overrides) - known
        if unknown:
            raise ConfigError(f"unknown topic setting(s): {', '.join(sorted(unknown))}")
        values["topics"] = replace(TopicNames(), **topic_overrides)
    return values


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    section = raw.get("edx", raw)
    return {key: _coerce(key, value) for key, value in section.items()}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults < TOML file < environment < ``overrides`` (non-``None``)."""
    env = os.environ if environ is None else environ
    from_env = _from_env(env)
    home = Path(overrides.get("home") or from_env.get("home") or Settings.home)
    config_file = Path(env["EDX_CONFIG"]) if env.get("EDX_CONFIG") else home / "edx.toml"
    from_file = _from_file(config_file) if config_file.exists() else {}
    if env.get("EDX_CONFIG") and not config_file.exists():
        raise ConfigError(f"settings file {config_file} (EDX_CONFIG) does not exist")
    settings = replace(Settings(), **{**from_file, **from_env})
    return settings.with_overrides(**overrides)
