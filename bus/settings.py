"""The one settings object of edxbus (DESIGN.md §8), grouped by concern.

:class:`Settings` holds ``home`` and one frozen group per concern: ``broker`` (how
clients reach Kafka), ``topics`` (names) and ``topic_layout`` (partitions,
replicas), ``groups`` (consumer groups), ``stores`` (database URLs), ``keys`` (PKI
paths), ``packages`` (what a package may be: pattern, size, and the one
:attr:`PackageRules.limits`), ``delivery`` (router workers, re-submission pace) and
``observability`` (metrics port, log format).

Values come from, in rising order of precedence: the defaults below, a TOML file
(``EDX_CONFIG``, else ``$EDX_HOME/edx.toml`` when it exists), ``EDX_*`` environment
variables, and explicit overrides (the CLI's flags). Every value also has a flat
name (:data:`FLAT_NAMES`: ``bootstrap``, ``max_package_bytes``...): the TOML file's
keys under ``[edx]`` (or, the same, ``[edx.broker] bootstrap = ...`` by group), the
CLI's overrides, and :meth:`Settings.of` for code that builds one. Paths left unset
derive from ``home``: the tracker database from ``home/tracker.db``, the PKI from
``home/pki``, trust anchors from ``pki/root`` (the ``resolved_*`` properties).

Every variable name the code reads is listed in :data:`ENV_VARS`, with the dotted
path of the field it sets; the deployment files in ``docker/`` are checked against
it by a test, so the two cannot drift.
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

__all__ = [
    "DEFAULT_MAX_PACKAGE_BYTES",
    "ENV_VARS",
    "FLAT_NAMES",
    "BrokerSettings",
    "ConsumerGroups",
    "Delivery",
    "KeyPaths",
    "Observability",
    "PackageRules",
    "Settings",
    "StoreUrls",
    "TopicLayout",
    "TopicNames",
    "load_settings",
]


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
class TopicLayout:
    """How :func:`bus.topics.ensure_topics` creates each topic: read together because
    they size the cluster's work (partitions bound how many routers share the load,
    replicas how many brokers may fail)."""

    partitions: int = 3
    replication_factor: int = 1


@dataclass(frozen=True)
class BrokerSettings:
    """How every Kafka client reaches and talks to the broker: the address, the
    security of the connection, and how long a fetch may wait; one
    :func:`bus.kafka.connection_options` turns them into aiokafka's arguments."""

    bootstrap: str = "127.0.0.1:9092"
    # Kafka security: PLAINTEXT for the embedded default; SASL_SSL/SSL in production.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # Longest the broker may hold a router's or tracker's fetch while it has nothing
    # new: what a lone document waits at each hop when the broker does not answer
    # as soon as data arrives (Tansu). aiokafka's default is 500 ms.
    fetch_max_wait_ms: int = 10


@dataclass(frozen=True)
class ConsumerGroups:
    """The services' consumer groups and how the broker treats their members: what
    decides which process owns which partition, and how fast it changes hands."""

    router: str = "edx-router"
    tracker: str = "edx-tracker"
    # How long a group waits for a member that stopped answering (killed without
    # leaving) before its partitions go to the others or to its restarted self.
    # None: the shortest the broker accepts, at least 3 s (bus.kafka.group_timing).
    session_timeout_ms: int | None = None
    # Static group membership (Kafka 2.3+): a member restarted under the same id
    # takes its partitions back at once, without a rebalance. Unique per process.
    instance_id: str | None = None


@dataclass(frozen=True)
class StoreUrls:
    """The databases the services keep, as configured; ``None`` means SQLite under
    ``home`` (:attr:`Settings.resolved_db_url`, :attr:`Settings.resolved_router_db_url`)."""

    # The tracker's database (also read by `edx status`, the gateway and the replay).
    db_url: str | None = None
    # The router's memory of accepted documents (survives its restarts).
    router_db_url: str | None = None


@dataclass(frozen=True)
class KeyPaths:
    """Where the keys and trust anchors are, as configured; ``None`` means the dev
    PKI layout under ``home`` (:attr:`Settings.resolved_pki` and its siblings)."""

    pki: Path | None = None
    trust: Path | None = None
    crl: Path | None = None


#: The one default size of a package, everywhere a package is read or written: the
#: router's check, the SDK's signing and reading, the gateway's upload cap and the
#: broker's record sizes all derive from ``packages.max_package_bytes``, whose
#: default is edxml's own (so ``edx package show`` and the library's callers without
#: settings apply the same 50 MiB).
DEFAULT_MAX_PACKAGE_BYTES = Limits().max_package_bytes


@dataclass(frozen=True)
class PackageRules:
    """What a package must be for the bus to accept it: who may send (the
    agency-code pattern) and how much it may weigh. Every reader and signer applies
    the same :attr:`limits`, so a package one side accepts, the other does too."""

    # The agency-code check (DOMAIN.md §1): configurable, test hubs use other ids.
    agency_pattern: str = r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"
    max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES
    # Attachments over 7.5 MB decoded (scans of long documents) need libxml2's
    # huge-text mode. Off by default; the DTD, entity, package-size and depth
    # refusals hold either way.
    large_attachments: bool = False

    @property
    def limits(self) -> Limits:
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


@dataclass(frozen=True)
class Delivery:
    """The pace and parallelism of moving documents: how many processes a router
    verifies on, and how long a sender waits before re-submitting the same bytes."""

    # Processes a router verifies and parses packages on; None: one per core.
    router_workers: int | None = None
    # The sender's outbox re-submits the same bytes after this much silence.
    resubmit_after_seconds: float = 300.0


@dataclass(frozen=True)
class Observability:
    """What a service shows its operators: the metrics endpoint and the log format."""

    # Prometheus metrics port of a service; 0 turns the endpoint off.
    metrics_port: int = 0
    log_format: str = "text"


@dataclass(frozen=True)
class Settings:
    """Everything a service, the SDK or the CLI needs to find its broker, store and keys.

    Grouped by concern; ``home`` stays at the top because the unset store URLs and
    key paths derive from it (the ``resolved_*`` properties below). Build one with
    flat names through :meth:`of`; change one with :meth:`with_values`.
    """

    home: Path = Path(".edx")
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    topics: TopicNames = field(default_factory=TopicNames)
    topic_layout: TopicLayout = field(default_factory=TopicLayout)
    groups: ConsumerGroups = field(default_factory=ConsumerGroups)
    stores: StoreUrls = field(default_factory=StoreUrls)
    keys: KeyPaths = field(default_factory=KeyPaths)
    packages: PackageRules = field(default_factory=PackageRules)
    delivery: Delivery = field(default_factory=Delivery)
    observability: Observability = field(default_factory=Observability)

    @classmethod
    def of(cls, **flat: Any) -> Settings:
        """The defaults with these values given by their flat names (``bootstrap``,
        ``max_package_bytes``, the keys of :data:`FLAT_NAMES`), ``None`` included."""
        return cls().with_values(**flat)

    @property
    def resolved_db_url(self) -> str:
        """The tracker database URL, defaulting to SQLite under ``home``."""
        return self.stores.db_url or f"sqlite:///{self.home / 'tracker.db'}"

    @property
    def resolved_router_db_url(self) -> str:
        """The router's store of accepted documents, defaulting to SQLite under ``home``."""
        return self.stores.router_db_url or f"sqlite:///{self.home / 'router.db'}"

    @property
    def resolved_pki(self) -> Path:
        """The dev PKI directory (``root/``, ``agencies/CODE/``, ``crl.pem``)."""
        return self.keys.pki or self.home / "pki"

    @property
    def resolved_trust(self) -> Path:
        """The directory of trust anchors used for verification."""
        return self.keys.trust or self.resolved_pki / "root"

    @property
    def resolved_crl(self) -> Path | None:
        """The CRL checked at verification, when one exists."""
        if self.keys.crl is not None:
            return self.keys.crl
        default = self.resolved_pki / "crl.pem"
        return default if default.exists() else None

    def outbox_path(self, agency: str) -> Path:
        """Where one agency's durable outbox lives."""
        return self.home / "outbox" / f"{agency}.sqlite"

    def agency_key_paths(self, agency: str) -> tuple[Path, Path]:
        """(key, certificate) of an agency in the dev PKI layout."""
        base = self.resolved_pki / "agencies" / agency
        return base / "key.pem", base / "cert.pem"

    def with_values(self, **flat: Any) -> Settings:
        """A copy with these values, by flat name, replaced (``None`` included)."""
        return _apply(self, {name: _coerce(name, value) for name, value in flat.items()})

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-``None`` values replaced (the CLI's flags)."""
        return self.with_values(**{k: v for k, v in overrides.items() if v is not None})


#: Flat name (the TOML key, the CLI's and :meth:`Settings.of`'s keyword) -> dotted
#: path of the field it sets.
FLAT_NAMES: Mapping[str, str] = {
    "home": "home",
    "bootstrap": "broker.bootstrap",
    "security_protocol": "broker.security_protocol",
    "sasl_mechanism": "broker.sasl_mechanism",
    "sasl_username": "broker.sasl_username",
    "sasl_password": "broker.sasl_password",
    "ssl_cafile": "broker.ssl_cafile",
    "ssl_certfile": "broker.ssl_certfile",
    "ssl_keyfile": "broker.ssl_keyfile",
    "fetch_max_wait_ms": "broker.fetch_max_wait_ms",
    "topics": "topics",
    "partitions": "topic_layout.partitions",
    "replication_factor": "topic_layout.replication_factor",
    "router_group": "groups.router",
    "tracker_group": "groups.tracker",
    "group_session_timeout_ms": "groups.session_timeout_ms",
    "group_instance_id": "groups.instance_id",
    "db_url": "stores.db_url",
    "router_db_url": "stores.router_db_url",
    "pki": "keys.pki",
    "trust": "keys.trust",
    "crl": "keys.crl",
    "agency_pattern": "packages.agency_pattern",
    "max_package_bytes": "packages.max_package_bytes",
    "large_attachments": "packages.large_attachments",
    "router_workers": "delivery.router_workers",
    "resubmit_after_seconds": "delivery.resubmit_after_seconds",
    "metrics_port": "observability.metrics_port",
    "log_format": "observability.log_format",
}
_BY_PATH = {path: name for name, path in FLAT_NAMES.items()}

#: Environment variable -> dotted path of the field it sets. Topic names use
#: ``EDX_TOPIC_<NAME>``.
ENV_VARS: Mapping[str, str] = {
    f"EDX_{name.upper()}": path for name, path in FLAT_NAMES.items() if name != "topics"
}
TOPIC_ENV_PREFIX = "EDX_TOPIC_"

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
    if name not in FLAT_NAMES:
        raise ConfigError(f"unknown setting {name!r}")
    if value is None or name == "topics":
        return value
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


def _topic_names(current: TopicNames, value: Any) -> TopicNames:
    """``topics`` given whole, or as a table of names laid over the current ones."""
    if isinstance(value, TopicNames):
        return value
    try:
        return replace(current, **dict(value))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting topics = {value!r} is not valid: {exc}") from exc


def _apply(settings: Settings, flat: Mapping[str, Any]) -> Settings:
    """``settings`` with coerced values, by flat name, set at their dotted paths."""
    top: dict[str, Any] = {}
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        if name == "topics":
            top["topics"] = _topic_names(settings.topics, value)
            continue
        group, _, attribute = FLAT_NAMES[name].rpartition(".")
        if group:
            grouped.setdefault(group, {})[attribute] = value
        else:
            top[attribute] = value
    for group, values in grouped.items():
        top[group] = replace(getattr(settings, group), **values)
    return replace(settings, **top)


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for var, path in ENV_VARS.items():
        if environ.get(var):
            name = _BY_PATH[path]
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
        values["topics"] = topic_overrides
    return values


_GROUPS = {f.name for f in fields(Settings)} - {"home", "topics"}


def _flatten(section: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[edx]`` table by flat name: its flat keys, and its sub-tables
    (``[edx.broker] bootstrap = ...``) named by their dotted paths."""
    flat: dict[str, Any] = {}
    for key, value in section.items():
        if key in _GROUPS and isinstance(value, Mapping):
            for attribute, inner in value.items():
                path = f"{key}.{attribute}"
                if path not in _BY_PATH:
                    raise ConfigError(f"unknown setting {path!r}")
                flat[_BY_PATH[path]] = inner
        else:
            flat[key] = value
    return flat


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    section = raw.get("edx", raw)
    return {key: _coerce(key, value) for key, value in _flatten(section).items()}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults < TOML file < environment < ``overrides`` (non-``None``)."""
    env = os.environ if environ is None else environ
    from_env = _from_env(env)
    home = Path(overrides.get("home") or from_env.get("home") or Settings.home)
    config_file = Path(env["EDX_CONFIG"]) if env.get("EDX_CONFIG") else home / "edx.toml"
    from_file = _from_file(config_file) if config_file.exists() else {}
    if env.get("EDX_CONFIG") and not config_file.exists():
        raise ConfigError(f"settings file {config_file} (EDX_CONFIG) does not exist")
    settings = _apply(_apply(Settings(), from_file), from_env)
    return settings.with_overrides(**overrides)
